-- Staff devices expire (docs/it-guide.md, "Staff devices"): each has an owner, an
-- expiry, and the time it was last renewed. The box refuses a device past its expiry
-- and tells the relay, which drops the device's peer on its own clock.
--
-- Devices made before expiry existed get 90 days from this upgrade (the default of the
-- devices.expiry_days setting) rather than never; the box sends that expiry to the
-- relay the next time it reaches it.

ALTER TABLE staff_devices ADD COLUMN owner TEXT NOT NULL DEFAULT '' CHECK (length(owner) <= 100);
ALTER TABLE staff_devices ADD COLUMN expires_at INTEGER;   -- UTC ms
ALTER TABLE staff_devices ADD COLUMN renewed_at INTEGER;   -- UTC ms, NULL = never renewed

UPDATE staff_devices
SET expires_at = CAST(unixepoch('now') AS INTEGER) * 1000 + 90 * 86400000
WHERE expires_at IS NULL;
