-- Data-subject requests (export, erasure), their audit log, and the one controlled exception to the
-- journal's append-only rule that erasure needs (re-pointing entries to a tombstone identity).

-- One request per row. The subject has no foreign key: an erasure deletes the subject's identity and
-- re-points every row here to the tombstone that replaces it.
CREATE TABLE privacy_requests (
    id                uuid PRIMARY KEY,
    type              text NOT NULL CHECK (type IN ('export', 'erase')),
    subject_id        uuid NOT NULL,
    subject_kind      text NOT NULL CHECK (subject_kind IN ('agent', 'human')),
    requested_by      text NOT NULL,
    on_behalf         boolean NOT NULL DEFAULT false,
    reason            text,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    progress          integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    step              text,
    -- where a job resumes after a crash: finished steps and per-step cursors
    state             jsonb NOT NULL DEFAULT '{}'::jsonb,
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    error             text,
    result            jsonb,
    approval_required boolean NOT NULL,
    approved_by       text,
    approved_at       timestamptz,
    approval_reason   text,
    tombstone_id      uuid,
    export_key        text,
    export_bytes      bigint CHECK (export_bytes >= 0),
    export_expires_at timestamptz,
    export_deleted_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((approved_at IS NULL) = (approved_by IS NULL)),
    CHECK (NOT approval_required OR status = 'pending' OR approved_at IS NOT NULL),
    CHECK ((status IN ('completed', 'failed')) = (finished_at IS NOT NULL)),
    CHECK (status <> 'completed' OR progress = 100)
);
-- At most one open request of a type per subject: a second one is a conflict, not a second job.
CREATE UNIQUE INDEX privacy_requests_open_idx ON privacy_requests (subject_id, type)
    WHERE status IN ('pending', 'processing');
CREATE INDEX privacy_requests_created_idx ON privacy_requests (created_at, id);
CREATE INDEX privacy_requests_subject_idx ON privacy_requests (subject_id, created_at);
CREATE INDEX privacy_requests_export_expiry_idx ON privacy_requests (export_expires_at)
    WHERE export_key IS NOT NULL AND export_deleted_at IS NULL;

-- Every request, approval, export, download, erasure and anonymisation: who, when, what. Retention
-- never deletes it; nothing may delete or rewrite it, except an erasure re-pointing the erased
-- subject's rows to its tombstone (under the `peerguard.erasure` setting of that transaction).
CREATE TABLE privacy_audit_log (
    id          bigserial PRIMARY KEY,
    request_id  uuid,
    subject_id  uuid,
    action      text NOT NULL CHECK (action IN (
                    'request', 'approve', 'start', 'export', 'download', 'erase', 'anonymise', 'delete',
                    'fail', 'expire', 'retention')),
    actor       text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX privacy_audit_log_created_idx ON privacy_audit_log (created_at, id);
CREATE INDEX privacy_audit_log_subject_idx ON privacy_audit_log (subject_id, id);
CREATE INDEX privacy_audit_log_request_idx ON privacy_audit_log (request_id, id);

CREATE FUNCTION privacy_audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('peerguard.erasure', true) = 'on' THEN
        IF NEW.id = OLD.id AND NEW.action = OLD.action AND NEW.created_at = OLD.created_at
           AND NEW.request_id IS NOT DISTINCT FROM OLD.request_id THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'the privacy audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER privacy_audit_log_append_only BEFORE UPDATE OR DELETE ON privacy_audit_log
    FOR EACH ROW EXECUTE FUNCTION privacy_audit_log_guard();

-- The journal stays append-only: legs never change; an entry may change only its idempotency key and
-- memo, only inside an erasure's transaction (the memo scrubbed, the erased subject's id replaced by
-- its tombstone's). Amounts, accounts, kinds and times never move, so the ledger still verifies.
CREATE OR REPLACE FUNCTION journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Nested tests: SQL does not promise to short-circuit AND, and journal_legs rows have no `kind`.
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'journal_entries'
       AND current_setting('peerguard.erasure', true) = 'on' THEN
        IF NEW.id = OLD.id AND NEW.kind = OLD.kind AND NEW.created_at = OLD.created_at THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'the journal is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
