//! Offset paging over an index table in creation order.

use super::StoreError;

/// One page of a collection, numbered from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub number: u32,
    pub size: u32,
    pub ascending: bool,
    pub with_total: bool,
}

#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
    pub total: Option<u64>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            has_next: self.has_next,
            total: self.total,
        }
    }
}

/// Picks the requested window out of `keys`, which yields a collection's
/// keys in ascending creation order. Reads one key past the window to learn
/// whether a next page exists.
pub fn window<K, I>(keys: I, request: &PageRequest) -> Result<(Vec<K>, bool), StoreError>
where
    I: DoubleEndedIterator<Item = Result<K, StoreError>>,
{
    let ordered: Box<dyn Iterator<Item = Result<K, StoreError>>> = if request.ascending {
        Box::new(keys)
    } else {
        Box::new(keys.rev())
    };
    let size = request.size as usize;
    let skip = (u64::from(request.number) - 1) * u64::from(request.size);
    let mut skipped = 0u64;
    let mut page = Vec::with_capacity(size.min(1024) + 1);
    for key in ordered {
        let key = key?;
        if skipped < skip {
            skipped += 1;
            continue;
        }
        page.push(key);
        if page.len() > size {
            break;
        }
    }
    let has_next = page.len() > size;
    page.truncate(size);
    Ok((page, has_next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(number: u32, size: u32, ascending: bool) -> PageRequest {
        PageRequest {
            number,
            size,
            ascending,
            with_total: false,
        }
    }

    fn keys(n: u32) -> impl DoubleEndedIterator<Item = Result<u32, StoreError>> {
        (1..=n).map(Ok)
    }

    #[test]
    fn pages_cover_the_collection_once_in_both_orders() {
        assert_eq!(
            window(keys(5), &request(1, 2, true)).unwrap(),
            (vec![1, 2], true)
        );
        assert_eq!(
            window(keys(5), &request(3, 2, true)).unwrap(),
            (vec![5], false)
        );
        assert_eq!(
            window(keys(5), &request(1, 2, false)).unwrap(),
            (vec![5, 4], true)
        );
        assert_eq!(
            window(keys(4), &request(2, 2, true)).unwrap(),
            (vec![3, 4], false)
        );
    }

    #[test]
    fn a_page_past_the_end_is_empty_without_next() {
        assert_eq!(
            window(keys(3), &request(9, 2, true)).unwrap(),
            (vec![], false)
        );
    }
}
