-- The catalog side of a pool (DECISIONS A4): its price per meter and the other names customers use
-- for it, carried by every `StockLevelChanged`. The offline NLU (`souk intent`, the intent stage)
-- reads them with the availability to match customer words against what the tenant sells.

ALTER TABLE stock_pools ADD COLUMN IF NOT EXISTS price_per_meter NUMERIC(18,2);
ALTER TABLE stock_pools ADD COLUMN IF NOT EXISTS aliases TEXT[] NOT NULL DEFAULT '{}';
