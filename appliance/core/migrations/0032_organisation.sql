-- A customer's organisation (the company they belong to), typed by staff on the
-- profile. When the admin allows it, the portal shows a customer the tickets of every
-- customer of the same organisation (boxsettings: portal.organisation_tickets).
ALTER TABLE customers ADD COLUMN organisation TEXT NOT NULL DEFAULT '';
CREATE INDEX customers_organisation ON customers (organisation) WHERE organisation != '';
