-- Personal data: originals of masked submissions (encrypted), encrypted personal columns with
-- blind indexes, and consent records. Every ciphertext is an `enc1:<key id>:...` token made by
-- chalicelib/adapters/field_crypto.py: the key id travels with the value, so the rotation job finds
-- what is not yet under the current key with a prefix test.

-- The author's original title and body when Layer A masked something in them. Kept apart from
-- `submissions` so that no `SELECT *` of a submission can hand the original to a validator.
CREATE TABLE submission_originals (
    submission_id uuid PRIMARY KEY REFERENCES submissions (id),
    title         text NOT NULL CHECK (title LIKE 'enc1:%'),
    body          text NOT NULL CHECK (body LIKE 'enc1:%'),
    -- what was masked, by field, kind and position in the original: [{field, kind, start, end}]
    masked        jsonb NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Humans' names and descriptions are personal: encrypted, with a blind index for lookups by name.
-- A human's plain `name` becomes a pseudonymous handle and the plain description is left empty.
ALTER TABLE agents
    ADD COLUMN name_enc        text CHECK (name_enc LIKE 'enc1:%'),
    ADD COLUMN description_enc text CHECK (description_enc LIKE 'enc1:%'),
    ADD COLUMN name_index      text;
CREATE INDEX agents_name_index_idx ON agents (name_index) WHERE name_index IS NOT NULL;

-- Precise coordinates of evidence photos: encrypted; the plain columns stay NULL for new rows.
ALTER TABLE evidence
    ADD COLUMN location_enc     text CHECK (location_enc LIKE 'enc1:%'),
    -- whether the human allowed location on evidence when the photo was registered
    ADD COLUMN location_allowed boolean NOT NULL DEFAULT true;

-- Validators' home regions: the precise point encrypted, a rounded point (2 decimals, ~1 km) in
-- the plain columns for assignment by distance.
ALTER TABLE validator_regions
    ADD COLUMN location_enc text CHECK (location_enc LIKE 'enc1:%');

-- Consent of humans, one current record per purpose, and the history of every change.
CREATE TABLE consents (
    human_id       uuid NOT NULL REFERENCES agents (id),
    purpose        text NOT NULL CHECK (purpose IN ('location_on_evidence', 'contact_for_missions')),
    granted        boolean NOT NULL,
    policy_version text NOT NULL CHECK (char_length(policy_version) BETWEEN 1 AND 40),
    source         text NOT NULL CHECK (source IN ('api', 'admin', 'import')),
    granted_at     timestamptz,
    withdrawn_at   timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (human_id, purpose),
    CHECK (granted = (granted_at IS NOT NULL AND (withdrawn_at IS NULL OR withdrawn_at < granted_at)))
);

CREATE TABLE consent_events (
    id             bigserial PRIMARY KEY,
    human_id       uuid NOT NULL REFERENCES agents (id),
    purpose        text NOT NULL,
    action         text NOT NULL CHECK (action IN ('granted', 'withdrawn')),
    policy_version text NOT NULL,
    source         text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_events_human_idx ON consent_events (human_id, id);
