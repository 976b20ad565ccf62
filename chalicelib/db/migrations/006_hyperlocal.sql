-- Hyperlocal: mission templates and missions, photo evidence with its privacy stage, before/after
-- pairs and their verification, attestations of problems by humans, and problem urgency.

-- Templates are soft-deleted; a name is unique among the active ones (case-insensitive).
CREATE TABLE mission_templates (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description         text NOT NULL DEFAULT '',
    domain              text NOT NULL CHECK (domain IN (
                            'poverty_reduction', 'education_access', 'healthcare_improvement',
                            'environmental_protection', 'food_security', 'mental_health_wellbeing',
                            'community_building', 'disaster_response', 'digital_inclusion', 'human_rights',
                            'clean_water_sanitation', 'sustainable_energy', 'gender_equality',
                            'biodiversity_conservation', 'elder_care')),
    difficulty          text NOT NULL CHECK (difficulty IN ('easy', 'medium', 'hard')),
    required_photos     integer NOT NULL CHECK (required_photos BETWEEN 1 AND 20),
    photo_pairs         integer NOT NULL CHECK (photo_pairs BETWEEN 0 AND 10),
    gps_check           boolean NOT NULL,
    min_minutes_between integer NOT NULL CHECK (min_minutes_between BETWEEN 0 AND 480),
    steps               jsonb NOT NULL CHECK (jsonb_typeof(steps) = 'array'),
    gps_radius_m        integer NOT NULL CHECK (gps_radius_m BETWEEN 10 AND 5000),
    duration_minutes    integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 480),
    created_by          text NOT NULL,
    updated_by          text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    deleted_at          timestamptz,
    CHECK (photo_pairs * 2 <= required_photos),
    CHECK (min_minutes_between <= duration_minutes)
);
CREATE UNIQUE INDEX mission_templates_active_name_idx ON mission_templates (lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX mission_templates_created_idx ON mission_templates (created_at, id);

-- A mission is a template snapshot placed somewhere, with an expiry and a reward in millicredits.
CREATE TABLE missions (
    id                  uuid PRIMARY KEY,
    template_id         uuid NOT NULL REFERENCES mission_templates (id),
    template            jsonb NOT NULL,
    title               text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 300),
    latitude            double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude           double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    problem_id          uuid REFERENCES submissions (id),
    reward_millicredits bigint NOT NULL CHECK (reward_millicredits >= 0),
    status              text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed', 'cancelled')),
    created_by          text NOT NULL,
    creator_agent_id    uuid REFERENCES agents (id),
    expires_at          timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (expires_at > created_at)
);
CREATE INDEX missions_created_idx ON missions (created_at, id);
CREATE INDEX missions_template_idx ON missions (template_id);

-- A before/after pair: one live before and one live after photo (enforced on evidence below).
CREATE TABLE evidence_pairs (
    id            uuid PRIMARY KEY,
    mission_id    uuid NOT NULL REFERENCES missions (id),
    human_id      uuid NOT NULL REFERENCES agents (id),
    status        text NOT NULL DEFAULT 'open'
                  CHECK (status IN ('open', 'verifying', 'approved', 'rejected', 'peer_review')),
    improvement   double precision CHECK (improvement BETWEEN 0 AND 1),
    confidence    double precision CHECK (confidence BETWEEN 0 AND 1),
    reasoning     text,
    verifier      text,
    verification  jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    decided_at    timestamptz,
    CHECK ((status IN ('approved', 'rejected', 'peer_review')) = (decided_at IS NOT NULL))
);
CREATE INDEX evidence_pairs_mission_idx ON evidence_pairs (mission_id);

-- Photo evidence. The original lives under quarantine/ until the privacy stage has run; only the
-- processed copy under processed/ is ever readable. Declared coordinates serve the pair's GPS rule
-- and are never shown; the coarse location (rounded, from the photo) is what the record shows.
CREATE TABLE evidence (
    id                   uuid PRIMARY KEY,
    mission_id           uuid NOT NULL REFERENCES missions (id),
    human_id             uuid NOT NULL REFERENCES agents (id),
    pair_id              uuid REFERENCES evidence_pairs (id),
    sequence             text NOT NULL CHECK (sequence IN ('before', 'after', 'standalone')),
    content_type         text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    size_bytes           integer NOT NULL CHECK (size_bytes > 0),
    captured_at          timestamptz NOT NULL,
    latitude             double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude            double precision CHECK (longitude BETWEEN -180 AND 180),
    status               text NOT NULL DEFAULT 'quarantined'
                         CHECK (status IN ('quarantined', 'processing', 'ready', 'rejected')),
    attempts             integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    retry_count          integer NOT NULL DEFAULT 0 CHECK (retry_count BETWEEN 0 AND 3),
    processing_token     uuid,
    processing_started_at timestamptz,
    uploaded_at          timestamptz,
    processed_at         timestamptz,
    processed_key        text,
    processed_content_type text,
    processed_bytes      integer,
    width                integer,
    height               integer,
    sha256               text,
    removed_metadata     jsonb,
    orientation_applied  boolean,
    blur_enabled         boolean,
    faces_blurred        integer CHECK (faces_blurred >= 0),
    plates_blurred       integer CHECK (plates_blurred >= 0),
    coarse_latitude      double precision,
    coarse_longitude     double precision,
    rejection_code       text,
    rejection_message    text,
    original_deleted_at  timestamptz,
    correlation_id       text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CHECK ((latitude IS NULL) = (longitude IS NULL)),
    CHECK ((sequence = 'standalone') = (pair_id IS NULL)),
    CHECK ((status = 'ready') = (processed_key IS NOT NULL)),
    CHECK ((status = 'rejected') = (rejection_code IS NOT NULL))
);
CREATE UNIQUE INDEX evidence_pair_slot_idx ON evidence (pair_id, sequence)
    WHERE pair_id IS NOT NULL AND status <> 'rejected';
CREATE INDEX evidence_human_idx ON evidence (human_id, created_at, id);
CREATE INDEX evidence_mission_idx ON evidence (mission_id, created_at, id);
CREATE INDEX evidence_processing_idx ON evidence (processing_started_at) WHERE status = 'processing';

-- Problems are submissions of kind 'problem'; attestations raise their urgency (0..1, neutral 0.5).
ALTER TABLE submissions ADD COLUMN urgency double precision NOT NULL DEFAULT 0.5
    CHECK (urgency BETWEEN 0 AND 1);

-- One attestation per human per problem: a second one is refused, never an overwrite.
CREATE TABLE attestations (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    problem_id uuid NOT NULL REFERENCES submissions (id),
    human_id   uuid NOT NULL REFERENCES agents (id),
    status     text NOT NULL CHECK (status IN ('confirmed', 'resolved', 'not_found')),
    note       text CHECK (char_length(note) <= 500),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (problem_id, human_id)
);
CREATE INDEX attestations_human_idx ON attestations (human_id, created_at);

-- Side effects of attestations, each applied once per problem (a withdrawn and repeated
-- attestation does not raise the urgency twice).
CREATE TABLE attestation_effects (
    problem_id uuid NOT NULL REFERENCES submissions (id),
    effect     text NOT NULL CHECK (effect IN ('urgency_boost', 'review_resolved', 'review_not_found')),
    details    jsonb NOT NULL DEFAULT '{}'::jsonb,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (problem_id, effect)
);
