//! The four collections (`watchlistMembers`, `watchlists`, `faces`,
//! `matchResults`) with HotChocolate's `skip`/`take` paging. A query walks
//! the store's index that fits its `where` (by id, by image, by creation or
//! processing time, by watchlist), evaluates the whole filter on each
//! record it meets, and keeps only its page, or, when it is sorted by
//! fields no index has, the matching records' nodes.

use super::filter::{parse_date_time, sort, sort_keys, Reader};
use super::nodes::{self, MatchRecord, Node, Segment};
use super::schema::{Deadline, Served};
use crate::store::{FaceScope, MemberScope, StoreError};
use async_graphql::dynamic::ResolverContext;
use async_graphql::{Error, Value};
use std::ops::{ControlFlow, RangeInclusive};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Collection {
    Members,
    Watchlists,
    Faces,
    MatchResults,
}

impl Collection {
    pub fn named(query: &str) -> Option<Collection> {
        Some(match query {
            "watchlistMembers" => Collection::Members,
            "watchlists" => Collection::Watchlists,
            "faces" => Collection::Faces,
            "matchResults" => Collection::MatchResults,
            _ => return None,
        })
    }

    fn filter_input(self) -> &'static str {
        match self {
            Collection::Members => "WatchlistMemberFilterInput",
            Collection::Watchlists => "WatchlistFilterInput",
            Collection::Faces => "FaceFilterInput",
            Collection::MatchResults => "MatchResultFilterInput",
        }
    }
}

/// `skip` and `take`, checked as HotChocolate checks them.
fn window_of(ctx: &ResolverContext, max: usize) -> Result<(usize, usize), Error> {
    let argument = |name: &str| -> Result<Option<i64>, Error> {
        match ctx.args.get(name) {
            Some(value) if !value.is_null() => Ok(Some(value.i64()?)),
            _ => Ok(None),
        }
    };
    let skip = argument("skip")?.unwrap_or(0);
    let take = argument("take")?.unwrap_or(max as i64);
    if skip < 0 || take < 0 {
        return Err(Error::new("`skip` and `take` may not be negative"));
    }
    if take as u64 > max as u64 {
        return Err(Error::new(format!(
            "The maximum allowed items per page were exceeded: `take` is at most {max}"
        )));
    }
    Ok((skip as usize, take as usize))
}

/// The page being gathered as matching records stream by in the order
/// the page is in; or, for an order no index has, every match.
struct Gathering {
    skip: usize,
    take: usize,
    count_all: bool,
    sorted_later: bool,
    matched: usize,
    kept: Vec<Node>,
}

impl Gathering {
    fn offer(&mut self, node: Node) -> ControlFlow<()> {
        self.matched += 1;
        if self.sorted_later || (self.matched > self.skip && self.kept.len() < self.take) {
            self.kept.push(node);
        }
        // One past the page tells whether a next page exists.
        match self.count_all || self.sorted_later || self.matched <= self.skip + self.take {
            true => ControlFlow::Continue(()),
            false => ControlFlow::Break(()),
        }
    }

    fn finish(self, keys: &[(String, bool)], reader: &Reader) -> Result<Segment, Error> {
        let (items, matched) = match self.sorted_later {
            true => {
                let sorted = sort(self.kept, keys, reader)?;
                let matched = sorted.len();
                let items = sorted.into_iter().skip(self.skip).take(self.take).collect();
                (items, matched)
            }
            false => (self.kept, self.matched),
        };
        Ok(Segment {
            items,
            has_next: matched > self.skip + self.take,
            has_previous: self.skip > 0,
            total: self.count_all.then_some(matched as u64),
        })
    }
}

/// The conditions a filter puts on all its records: its own fields and
/// those of its `and` list, where an index may serve them.
fn conjuncts(filter: Option<&Value>) -> Vec<(&str, &Value)> {
    let mut found = Vec::new();
    if let Some(Value::Object(fields)) = filter {
        for (name, condition) in fields {
            match (name.as_str(), condition) {
                ("and", Value::List(all)) => {
                    all.iter().for_each(|f| found.extend(conjuncts(Some(f))))
                }
                (name, condition) => found.push((name, condition)),
            }
        }
    }
    found
}

fn operand<'a>(condition: &'a Value, operation: &str) -> Option<&'a Value> {
    match condition {
        Value::Object(operations) => operations.get(operation).filter(|v| **v != Value::Null),
        _ => None,
    }
}

fn strings(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::List(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// The ids an `id: {eq: ...}` or `id: {in: [...]}` condition allows.
fn ids_in(conditions: &[(&str, &Value)], field: &str) -> Option<Vec<String>> {
    conditions
        .iter()
        .filter(|(name, _)| *name == field)
        .find_map(|(_, c)| {
            operand(c, "eq")
                .or_else(|| operand(c, "in"))
                .and_then(strings)
        })
}

/// The nanoseconds a time condition on `field` allows, widened to whole
/// microseconds (a superset: the filter itself still decides).
fn time_range(conditions: &[(&str, &Value)], field: &str) -> Option<RangeInclusive<u64>> {
    let time = |c: &Value, op: &str| match operand(c, op) {
        Some(Value::String(s)) => parse_date_time(s),
        _ => None,
    };
    let (mut from, mut to, mut bounded) = (0u64, u64::MAX, false);
    for (_, condition) in conditions.iter().filter(|(name, _)| *name == field) {
        for op in ["gt", "gte", "eq"] {
            if let Some(t) = time(condition, op) {
                from = from.max(t - t % 1_000);
                bounded = true;
            }
        }
        for op in ["lt", "lte", "eq"] {
            if let Some(t) = time(condition, op) {
                to = to.min(t - t % 1_000 + 999);
                bounded = true;
            }
        }
    }
    bounded.then_some(from..=to)
}

/// `watchlists: {some: {id: {eq: X}}}`: the members of one watchlist.
fn watchlist_in(conditions: &[(&str, &Value)]) -> Option<String> {
    conditions
        .iter()
        .filter(|(name, _)| *name == "watchlists")
        .find_map(|(_, c)| {
            let some = operand(c, "some")?;
            let inner = conjuncts(Some(some));
            let ids = ids_in(&inner, "id")?;
            match ids.as_slice() {
                [one] if operand(inner.iter().find(|(n, _)| *n == "id")?.1, "eq").is_some() => {
                    Some(one.clone())
                }
                _ => None,
            }
        })
}

/// Answers one collection query.
pub fn collection(
    served: &Served,
    collection: Collection,
    ctx: &ResolverContext,
) -> Result<Segment, Error> {
    let (skip, take) = window_of(ctx, served.limits.max_page_size)?;
    let filter = ctx.args.get("where").map(|w| w.as_value().clone());
    let order = ctx.args.get("order").map(|o| o.as_value().clone());
    let mut keys = sort_keys(order.as_ref())?;
    let conditions = conjuncts(filter.as_ref());
    let reader = served.reader();
    let store = reader.store;
    // Newest first is the creation index read backwards.
    let newest_first = keys == [("createdAt".to_string(), false)];
    let scan: Scan = match collection {
        Collection::Members => {
            let scope = match (
                ids_in(&conditions, "id"),
                watchlist_in(&conditions),
                time_range(&conditions, "createdAt"),
            ) {
                (Some(ids), _, _) => MemberScope::Ids(ids),
                (None, Some(watchlist), _) => MemberScope::InWatchlist(watchlist),
                (None, None, Some(range)) => MemberScope::CreatedWithin(range),
                (None, None, None) => MemberScope::All,
            };
            let in_order = !matches!(scope, MemberScope::Ids(_));
            Scan {
                in_order,
                visit: Box::new(move |newest, visit| {
                    store.visit_members(&scope, newest, &mut |m| visit(Node::Member(Arc::new(m))))
                }),
            }
        }
        Collection::Watchlists => Scan {
            in_order: true,
            visit: Box::new(move |newest, visit| {
                let mut all = store.all_watchlists()?;
                if newest {
                    all.reverse();
                }
                for watchlist in all {
                    if visit(Node::Watchlist(Arc::new(watchlist))).is_break() {
                        break;
                    }
                }
                Ok(())
            }),
        },
        Collection::Faces => {
            let scope = match (
                ids_in(&conditions, "id"),
                ids_in(&conditions, "imageDataId"),
                time_range(&conditions, "processedAt"),
            ) {
                (Some(ids), _, _) => FaceScope::Ids(ids),
                (None, Some(images), _) if images.len() == 1 => {
                    FaceScope::OfImage(images[0].clone())
                }
                (None, _, Some(range)) => FaceScope::SeenWithin(range),
                _ => FaceScope::All,
            };
            let in_order = matches!(scope, FaceScope::SeenWithin(_));
            Scan {
                in_order,
                visit: Box::new(move |newest, visit| {
                    store.visit_faces(&scope, newest, &mut |f| visit(nodes::face(f)))
                }),
            }
        }
        Collection::MatchResults => {
            let wanted = ids_in(&conditions, "id").map(|ids| {
                ids.iter()
                    .filter_map(|id| uuid::Uuid::parse_str(id).ok())
                    .filter_map(|id| served.door.event_of_match(id))
                    .collect::<Vec<u64>>()
            });
            Scan {
                in_order: wanted.is_none(),
                visit: Box::new(move |newest, visit| {
                    let mut on_match = |event: crate::store::Event| match event.member_id {
                        Some(_) => visit(Node::MatchResult(MatchRecord::new(event))),
                        None => ControlFlow::Continue(()),
                    };
                    match &wanted {
                        Some(sequences) => {
                            for sequence in sequences {
                                if let Some(event) = store.event(*sequence)? {
                                    if on_match(event).is_break() {
                                        break;
                                    }
                                }
                            }
                            Ok(())
                        }
                        None => store.visit_events(newest, &mut on_match),
                    }
                }),
            }
        }
    };
    let newest_first = newest_first && scan.in_order;
    if newest_first {
        keys.clear();
    } else if keys.is_empty() && !scan.in_order {
        keys = vec![("createdAt".into(), true), ("id".into(), true)];
    }
    let mut gathering = Gathering {
        skip,
        take,
        count_all: ctx.look_ahead().field("totalCount").exists(),
        sorted_later: !keys.is_empty(),
        matched: 0,
        kept: Vec::new(),
    };
    let mut failure = None;
    let input = collection.filter_input();
    let deadline = ctx.data_opt::<Deadline>().map(|d| d.0);
    (scan.visit)(newest_first, &mut |node| {
        if deadline.is_some_and(|at| std::time::Instant::now() > at) {
            failure = Some(Error::new(
                "the query took too long: ask for fewer records (take, where)",
            ));
            return ControlFlow::Break(());
        }
        let passed = match &filter {
            Some(filter) => served.inputs.accepts(&node, filter, input, &reader),
            None => Ok(true),
        };
        match passed {
            Ok(true) => gathering.offer(node),
            Ok(false) => ControlFlow::Continue(()),
            Err(e) => {
                failure = Some(e);
                ControlFlow::Break(())
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    gathering.finish(&keys, &reader)
}

type Visitor<'v> = &'v mut dyn FnMut(Node) -> ControlFlow<()>;
type Walk<'a> = Box<dyn FnOnce(bool, Visitor<'_>) -> Result<(), StoreError> + 'a>;

/// A walk over one index: whether it yields records in the collection's
/// own order (creation), and the walk, newest first or oldest first.
struct Scan<'a> {
    in_order: bool,
    visit: Walk<'a>,
}
