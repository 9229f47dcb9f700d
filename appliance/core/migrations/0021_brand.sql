-- The company's look (issue 13): each console user's photo, shown to visitors when they
-- answer. The picture itself is a file in the data folder (avatars/<user>-<digest>.jpg,
-- so backups carry it); this row names the current one. The brand settings themselves
-- (colour, logo, name, welcome, launcher) are box_settings rows under "brand.".
CREATE TABLE user_avatars (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    digest TEXT NOT NULL CHECK (length(digest) = 16),  -- hex, the file's content hash
    updated_at INTEGER NOT NULL                         -- UTC ms
);
