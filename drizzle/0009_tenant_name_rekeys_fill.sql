-- Tenant-name keys (tenants.name_normalized) are now NFKC + case folding (src/lib/names.ts). For ASCII
-- names that is the key they already have (lower-cased); names with any other character need a new
-- one, which SQL cannot compute (no NFKC). List them; the scheduled handler recomputes their keys in
-- bounded batches and removes them from the list (src/features/tenants/service.ts, renormalizeTenantNames).
INSERT OR IGNORE INTO tenant_name_rekeys (tenant_id) SELECT id FROM tenants WHERE name GLOB '*[^ -~]*';
