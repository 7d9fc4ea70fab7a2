-- 0013_sample_fields.sql: the optional sample fields devices may send.
--
-- A device sample is [t_ms, lat, lon, alt_m, hr_bpm, spo2_pct] and, optionally, its Doppler
-- speed, its horizontal accuracy (the radius of 68 % confidence) and power. The distance
-- metric uses the first two when sent (actors/metrics/distance.py); power is only stored
-- for now. sensor_data.accuracy_m exists since 0002 (empty until now); this adds the other
-- two. All are NULL for samples that did not carry them (and every sample stored before).
-- On a TimescaleDB hypertable and on the native partitioned table alike, a nullable column
-- without a default is added without rewriting a row.

ALTER TABLE sensor_data
    ADD COLUMN speed_mps real NULL CONSTRAINT sensor_data_speed_mps_check CHECK (speed_mps BETWEEN 0 AND 150),
    ADD COLUMN power_w   real NULL CONSTRAINT sensor_data_power_w_check   CHECK (power_w BETWEEN 0 AND 5000);

COMMENT ON COLUMN sensor_data.speed_mps IS 'The device''s Doppler speed, m/s (NULL: not sent).';
COMMENT ON COLUMN sensor_data.accuracy_m IS 'The device''s horizontal accuracy, the radius of 68 % confidence, m (NULL: not sent).';
COMMENT ON COLUMN sensor_data.power_w IS 'Power, W (NULL: not sent).';
