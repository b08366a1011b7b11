-- The operators' subscription lists read newest first, filtered by status or
-- source or neither: an index for each, in the order of the page.
-- Keep in step with the other backend's folder.
CREATE INDEX subscriptions_created ON subscriptions (created_at, id);
CREATE INDEX subscriptions_status ON subscriptions (status, created_at, id);
CREATE INDEX subscriptions_source ON subscriptions (source, created_at, id);
