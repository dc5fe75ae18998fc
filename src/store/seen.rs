//! The matching keys a subscriber file held, each with its first line: by
//! them a merge finds duplicate rows, and the subscribers of the file
//! whose row is gone.
//!
//! A merge of a million rows keeps a million keys for as long as it runs.
//! A `HashMap<String, usize>` spent about 100 bytes a key on it (a
//! bucket, a heap allocation and its header per key); here the keys'
//! bytes sit end to end in one arena and the table holds 16 bytes each
//! (offset, length and line), so the same file needs about 45 MB.

use std::hash::BuildHasher;

use hashbrown::HashTable;

#[derive(Default)]
pub struct Seen {
    /// Every key's bytes, one after another.
    arena: String,
    table: HashTable<Entry>,
    hasher: std::collections::hash_map::RandomState,
}

#[derive(Clone, Copy)]
struct Entry {
    start: u64,
    len: u32,
    line: u32,
}

impl Seen {
    fn key<'a>(arena: &'a str, entry: &Entry) -> &'a str {
        &arena[entry.start as usize..entry.start as usize + entry.len as usize]
    }

    /// The line `key` was first seen on.
    pub fn get(&self, key: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(key);
        self.table.find(hash, |entry| Self::key(&self.arena, entry) == key).map(|entry| entry.line as usize)
    }

    /// Records `key` at `line`, unless it is there already: then the
    /// line it was first seen on.
    pub fn first_line(&mut self, key: &str, line: usize) -> Option<usize> {
        if let Some(first) = self.get(key) {
            return Some(first);
        }
        let hash = self.hasher.hash_one(key);
        let entry = Entry {
            start: self.arena.len() as u64,
            // Keys are addresses (at most 254 octets); lines of a file
            // past four billion are counted as the last one.
            len: u32::try_from(key.len()).unwrap_or(u32::MAX),
            line: u32::try_from(line).unwrap_or(u32::MAX),
        };
        self.arena.push_str(key);
        let (arena, hasher) = (&self.arena, &self.hasher);
        self.table.insert_unique(hash, entry, |entry| hasher.hash_one(Self::key(arena, entry)));
        None
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_keeps_its_first_line_and_others_are_unknown() {
        let mut seen = Seen::default();
        for n in 0..10_000 {
            assert_eq!(seen.first_line(&format!("reader{n}@example.org"), n + 2), None);
        }
        assert_eq!(seen.first_line("reader5@example.org", 99_999), Some(7));
        assert_eq!(seen.get("reader9999@example.org"), Some(10_001));
        assert!(!seen.contains("reader10000@example.org") && !seen.contains("reader5@example.or"));
        assert_eq!(seen.table.len(), 10_000);
        assert_eq!((seen.first_line("", 1), seen.get("")), (None, Some(1)), "an empty key is a key too");
    }
}
