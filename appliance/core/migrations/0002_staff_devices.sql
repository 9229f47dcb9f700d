-- Staff devices: WireGuard peers of the relay inside this box's overlay /24.
-- Only the public key is kept; the private key leaves the box in the device's config.

CREATE TABLE staff_devices (
    name TEXT PRIMARY KEY,
    public_key TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;
