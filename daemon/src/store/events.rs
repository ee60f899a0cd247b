//! The door's event log: every decision, in a bounded ring in redb.

use super::paging::{window, Page, PageRequest};
use super::records::{decode, encode, Timestamp};
use super::schema::EVENTS;
use super::{Store, StoreError};
use redb::{ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Increases by one per event; the ring's key.
    pub sequence: u64,
    pub at: Timestamp,
    pub member_id: Option<String>,
    pub score: Option<i32>,
    pub liveness: Option<f32>,
    pub opened: bool,
    pub reason: String,
    /// A small JPEG of the face.
    pub crop: Vec<u8>,
}

impl Store {
    /// Appends an event (its `sequence` is assigned here) and drops the
    /// oldest beyond `keep`.
    pub fn record_event(&self, mut event: Event, keep: u64) -> Result<Event, StoreError> {
        self.write(|txn| {
            let mut table = txn.open_table(EVENTS)?;
            let next = table.last()?.map_or(0, |(key, _)| key.value() + 1);
            event.sequence = next;
            table.insert(next, encode(&event)?.as_slice())?;
            while table.len()? > keep {
                table.pop_first()?;
            }
            Ok(event)
        })
    }

    pub fn events(&self, request: &PageRequest) -> Result<Page<Event>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(EVENTS)?;
        let keys = table.iter()?.map(|entry| {
            let (key, _) = entry?;
            Ok(key.value())
        });
        let (sequences, has_next) = window(keys, request)?;
        let items = sequences
            .iter()
            .map(|sequence| {
                let bytes = table
                    .get(sequence)?
                    .ok_or_else(|| StoreError::other(format!("event {sequence} vanished")))?;
                Ok(decode(bytes.value())?)
            })
            .collect::<Result<_, StoreError>>()?;
        let total = match request.with_total {
            true => Some(table.len()?),
            false => None,
        };
        Ok(Page {
            items,
            has_next,
            total,
        })
    }

    pub fn event(&self, sequence: u64) -> Result<Option<Event>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(EVENTS)?;
        match table.get(sequence)? {
            Some(bytes) => Ok(Some(decode(bytes.value())?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(reason: &str) -> Event {
        Event {
            sequence: 0,
            at: Timestamp::now(),
            member_id: None,
            score: None,
            liveness: None,
            opened: false,
            reason: reason.into(),
            crop: vec![],
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_events_with_rising_sequences() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for i in 0..7 {
            store.record_event(event(&format!("e{i}")), 5).unwrap();
        }
        let request = PageRequest {
            number: 1,
            size: 10,
            ascending: true,
            with_total: true,
        };
        let page = store.events(&request).unwrap();
        assert_eq!(page.total, Some(5));
        let kept: Vec<(u64, String)> = page
            .items
            .into_iter()
            .map(|e| (e.sequence, e.reason))
            .collect();
        assert_eq!(kept.first().unwrap(), &(2, "e2".to_string()));
        assert_eq!(kept.last().unwrap(), &(6, "e6".to_string()));
        assert!(store.event(1).unwrap().is_none() && store.event(6).unwrap().is_some());
    }
}
