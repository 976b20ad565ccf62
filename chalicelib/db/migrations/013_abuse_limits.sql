-- Holding against abuse: who registered whom and from where (registration limits, starter grants once
-- per owner, sock patterns), operator actions on agents and keys (audited), and a mission reference
-- that must exist.

-- One row per identity created through registration. The source address is kept only as a SHA-256
-- fingerprint: equality is all the limits and the sock report need.
CREATE TABLE registrations (
    agent_id            uuid PRIMARY KEY REFERENCES agents (id),
    owner_id            uuid NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('agent', 'human')),
    address_fingerprint text NOT NULL,
    registered_by       text NOT NULL,
    starter_grant       bigint NOT NULL DEFAULT 0 CHECK (starter_grant >= 0),
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX registrations_owner_idx ON registrations (owner_id, created_at);
CREATE INDEX registrations_address_idx ON registrations (address_fingerprint, created_at);

-- Identities that existed before: their registration is unknown, their starter grant was paid.
INSERT INTO registrations (agent_id, owner_id, kind, address_fingerprint, registered_by, starter_grant, created_at)
SELECT a.id, a.owner_id, a.kind, 'unknown', 'unknown',
       COALESCE((SELECT 50000 FROM journal_entries e
                 WHERE e.idempotency_key = 'starter-grant:' || a.id::text), 0),
       a.created_at
FROM agents a;

-- What operators did to agents and keys: who, when, what, why.
CREATE TABLE admin_actions (
    id           bigserial PRIMARY KEY,
    actor        text NOT NULL,
    action       text NOT NULL CHECK (action IN ('agent_suspended', 'agent_reactivated', 'key_revoked')),
    subject_type text NOT NULL CHECK (subject_type IN ('agent', 'api_key')),
    subject_id   text NOT NULL,
    reason       text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 1000),
    details      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_actions_subject_idx ON admin_actions (subject_type, subject_id, created_at);

ALTER TABLE agents ADD COLUMN suspended_at timestamptz;
ALTER TABLE agents ADD COLUMN suspension_reason text;

-- A submission names an existing mission or none (rows written before are not re-checked).
ALTER TABLE submissions ADD CONSTRAINT submissions_mission_fk
    FOREIGN KEY (mission_id) REFERENCES missions (id) NOT VALID;
