-- Permissions looked up by what they apply to (who may do what on one
-- project or repository, and their removal with it). Keep in step with
-- ../postgres/0004_permission_targets.sql.

CREATE INDEX permissions_target ON permissions (target, target_id);
