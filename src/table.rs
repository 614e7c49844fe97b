//! A compact map from strings to values, for the 300,000 paths of a large manifest: the keys
//! live in one string, a hash index holds positions, and insertion order is kept. A
//! `HashMap<String, V>` spends an allocation and about 80 bytes of overhead per key on top.

use std::hash::BuildHasher;

/// Strings to values, in insertion order; inserting a key again replaces its value.
#[derive(Debug, Default, Clone)]
pub struct Table<V> {
    text: String,
    /// Where each key starts in `text`; it ends where the next one starts.
    entries: Vec<(usize, V)>,
    index: hashbrown::HashTable<usize>,
    hasher: std::hash::RandomState,
}

impl<V> Table<V> {
    /// An empty table with room for `n` entries.
    pub fn with_capacity(n: usize) -> Table<V> {
        Table {
            text: String::new(),
            entries: Vec::with_capacity(n),
            index: hashbrown::HashTable::with_capacity(n),
            hasher: std::hash::RandomState::new(),
        }
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn key(&self, at: usize) -> &str {
        key_at(&self.text, &self.entries, at)
    }

    fn find(&self, key: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(key);
        self.index.find(hash, |&i| self.key(i) == key).copied()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.find(key).map(|i| &self.entries[i].1)
    }

    /// Sets `key` to `value`.
    pub fn insert(&mut self, key: &str, value: V) {
        if let Some(i) = self.find(key) {
            self.entries[i].1 = value;
            return;
        }
        let at = self.entries.len();
        self.entries.push((self.text.len(), value));
        self.text.push_str(key);
        let hash = self.hasher.hash_one(key);
        let Table {
            text,
            entries,
            index,
            hasher,
        } = self;
        index.insert_unique(hash, at, rehash(text, entries, hasher));
    }

    /// Gives back the room that growing left unused: a table read from a file is kept for a
    /// whole build.
    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.entries.shrink_to_fit();
        let Table {
            text,
            entries,
            index,
            hasher,
        } = self;
        index.shrink_to_fit(rehash(text, entries, hasher));
    }

    /// Every key and value, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        (0..self.entries.len()).map(|i| (self.key(i), &self.entries[i].1))
    }

    /// Every key, in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|(k, _)| k)
    }
}

/// The hash of the key at an index position, for the index when it grows or shrinks.
fn rehash<'t, V>(
    text: &'t str,
    entries: &'t [(usize, V)],
    hasher: &'t std::hash::RandomState,
) -> impl Fn(&usize) -> u64 + 't {
    move |&i| hasher.hash_one(key_at(text, entries, i))
}

fn key_at<'t, V>(text: &'t str, entries: &[(usize, V)], at: usize) -> &'t str {
    let end = entries.get(at + 1).map_or(text.len(), |e| e.0);
    &text[entries[at].0..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_map_that_keeps_insertion_order() {
        let mut t = Table::with_capacity(1);
        for (i, k) in ["b", "a", "", "ab", "a/b/c"].into_iter().enumerate() {
            t.insert(k, i);
        }
        t.insert("a", 9);
        assert_eq!(t.len(), 5);
        assert_eq!(t.get("a"), Some(&9));
        assert_eq!(t.get(""), Some(&2));
        assert_eq!(t.get("a/b/c"), Some(&4));
        assert_eq!(t.get("c"), None);
        assert_eq!(t.keys().collect::<Vec<_>>(), ["b", "a", "", "ab", "a/b/c"]);
        let many: Table<usize> = {
            let mut m = Table::default();
            for i in 0..10_000 {
                m.insert(&format!("dns/d{i}.example.zone"), i);
            }
            m
        };
        assert!((0..10_000).all(|i| many.get(&format!("dns/d{i}.example.zone")) == Some(&i)));
        let mut shrunk = many.clone();
        shrunk.shrink_to_fit();
        assert!((0..10_000).all(|i| shrunk.get(&format!("dns/d{i}.example.zone")) == Some(&i)));
    }
}
