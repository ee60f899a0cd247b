//! HotChocolate's `where` and `order` arguments, evaluated on nodes: which
//! operation a filter field is, and what its operand is, follow from the
//! name of its input type in the served schema (`StringOperationFilterInput`,
//! `ComparableNullableOfDateTimeOperationFilterInput`,
//! `ListFilterInputTypeOfWatchlistFilterInput`, `WatchlistFilterInput`...),
//! so every filter input of the schema is evaluated by this one file.
//!
//! Comparisons follow C#, as SmartFace's LINQ queries do: `eq null` is
//! "is null", `neq` holds for null, and an ordering or text test on null
//! is false (its negation too: SQL's three-valued logic drops the row).

use super::nodes::{Cell, Door, Node, Related};
use crate::store::Store;
use async_graphql::{Error, Name, Value};
use std::cmp::Ordering;
use std::collections::HashMap;

/// The input types of the schema: for each, its fields' type names.
pub struct Inputs {
    fields: HashMap<String, HashMap<String, String>>,
}

/// What a filter reads records through.
pub struct Reader<'a> {
    pub store: &'a Store,
    pub door: &'a Door,
}

/// The operand of a scalar operation, told by its input type's name.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Operand {
    Text,
    Time,
    Uuid,
    Int,
    Float,
    Bool,
    Enum,
}

fn operand_of(input: &str) -> Option<Operand> {
    if !input.ends_with("OperationFilterInput") {
        return None;
    }
    Some(match input {
        "StringOperationFilterInput" => Operand::Text,
        "BooleanOperationFilterInput" => Operand::Bool,
        _ if input.contains("DateTime") => Operand::Time,
        _ if input.contains("Guid") => Operand::Uuid,
        _ if input.contains("Int32") || input.contains("Int64") => Operand::Int,
        _ if input.contains("Double") || input.contains("Single") => Operand::Float,
        _ => Operand::Enum,
    })
}

const LIST_FILTER: &str = "ListFilterInputTypeOf";

impl Inputs {
    pub fn new(fields: HashMap<String, HashMap<String, String>>) -> Inputs {
        Inputs { fields }
    }

    fn field_type(&self, input: &str, field: &str) -> Result<&str, Error> {
        self.fields
            .get(input)
            .and_then(|fields| fields.get(field))
            .map(String::as_str)
            .ok_or_else(|| Error::new(format!("`{field}` is not a field of {input}")))
    }

    /// Whether `node` passes `filter`, a value of input type `input`.
    pub fn accepts(
        &self,
        node: &Node,
        filter: &Value,
        input: &str,
        reader: &Reader,
    ) -> Result<bool, Error> {
        let Value::Object(conditions) = filter else {
            return Ok(true); // `where: null` filters nothing
        };
        for (field, condition) in conditions {
            if condition == &Value::Null {
                continue;
            }
            let passed = match field.as_str() {
                "and" => self.all_of(node, condition, input, reader)?,
                "or" => self.any_of(node, condition, input, reader)?,
                _ => {
                    let field_type = self.field_type(input, field)?;
                    if let Some(operand) = operand_of(field_type) {
                        let cell = node
                            .scalar(field, reader.store, reader.door)?
                            .ok_or_else(|| Error::new(format!("`{field}` cannot be filtered")))?;
                        self.operation(&cell, condition, operand)?
                    } else {
                        let related = node
                            .related(field, reader.store)?
                            .ok_or_else(|| Error::new(format!("`{field}` cannot be filtered")))?;
                        self.relation(related, condition, field_type, reader)?
                    }
                }
            };
            if !passed {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn all_of(&self, node: &Node, list: &Value, input: &str, r: &Reader) -> Result<bool, Error> {
        for filter in items(list) {
            if !self.accepts(node, filter, input, r)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn any_of(&self, node: &Node, list: &Value, input: &str, r: &Reader) -> Result<bool, Error> {
        for filter in items(list) {
            if self.accepts(node, filter, input, r)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A filter on an object field (`FaceFilterInput`) or a list field
    /// (`ListFilterInputTypeOfFaceFilterInput`).
    fn relation(
        &self,
        related: Related,
        condition: &Value,
        field_type: &str,
        reader: &Reader,
    ) -> Result<bool, Error> {
        match related {
            Related::One(None) => Ok(false),
            Related::One(Some(node)) => self.accepts(&node, condition, field_type, reader),
            Related::Many(nodes) => {
                let element = field_type.strip_prefix(LIST_FILTER).unwrap_or(field_type);
                let Value::Object(operations) = condition else {
                    return Ok(true);
                };
                for (operation, filter) in operations {
                    if filter == &Value::Null {
                        continue;
                    }
                    let mut passing = nodes
                        .iter()
                        .map(|node| self.accepts(node, filter, element, reader));
                    let passed = match operation.as_str() {
                        "all" => passing.try_fold(true, |all, p| p.map(|p| all && p))?,
                        "some" => passing.try_fold(false, |any, p| p.map(|p| any || p))?,
                        "none" => !passing.try_fold(false, |any, p| p.map(|p| any || p))?,
                        "any" => *filter == Value::Boolean(!nodes.is_empty()),
                        other => {
                            return Err(Error::new(format!("unknown list operation `{other}`")))
                        }
                    };
                    if !passed {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        }
    }

    /// `{eq: ..., gte: ..., in: [...]}` on one scalar.
    fn operation(&self, cell: &Cell, condition: &Value, operand: Operand) -> Result<bool, Error> {
        let Value::Object(operations) = condition else {
            return Ok(true);
        };
        let cell = normalized(cell.clone());
        for (name, value) in operations {
            let passed = match name.as_str() {
                "and" => items(value)
                    .map(|c| self.operation(&cell, c, operand))
                    .try_fold(true, |all, p| p.map(|p| all && p))?,
                "or" => items(value)
                    .map(|c| self.operation(&cell, c, operand))
                    .try_fold(false, |any, p| p.map(|p| any || p))?,
                "in" | "nin" => {
                    let list = items(value)
                        .map(|v| parse(v, operand, name))
                        .collect::<Result<Vec<_>, _>>()?;
                    list.contains(&cell) == (name.as_str() == "in")
                }
                _ => {
                    let operand = parse(value, operand, name)?;
                    compare(&cell, name, &operand)?
                }
            };
            if !passed {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn items(list: &Value) -> impl Iterator<Item = &Value> {
    match list {
        Value::List(items) => items.iter(),
        // GraphQL coerces a single value where a list is expected.
        single => std::slice::from_ref(single).iter(),
    }
}

/// One comparison of a field's cell with an operand.
fn compare(cell: &Cell, operation: &Name, operand: &Cell) -> Result<bool, Error> {
    let ordered = |wanted: &[Ordering]| match (cell, operand) {
        (Cell::Null, _) | (_, Cell::Null) => None,
        _ => order(cell, operand).map(|o| wanted.contains(&o)),
    };
    let text = |test: fn(&str, &str) -> bool| match (cell, operand) {
        (Cell::Text(a), Cell::Text(b)) => Some(test(a, b)),
        _ => None,
    };
    let negated = |result: Option<bool>| result.map(|r| !r);
    let result = match operation.as_str() {
        "eq" => Some(cell == operand),
        "neq" => Some(cell != operand),
        "gt" => ordered(&[Ordering::Greater]),
        "gte" => ordered(&[Ordering::Greater, Ordering::Equal]),
        "lt" => ordered(&[Ordering::Less]),
        "lte" => ordered(&[Ordering::Less, Ordering::Equal]),
        "ngt" => negated(ordered(&[Ordering::Greater])),
        "ngte" => negated(ordered(&[Ordering::Greater, Ordering::Equal])),
        "nlt" => negated(ordered(&[Ordering::Less])),
        "nlte" => negated(ordered(&[Ordering::Less, Ordering::Equal])),
        "contains" => text(|a, b| a.contains(b)),
        "startsWith" => text(|a, b| a.starts_with(b)),
        "endsWith" => text(|a, b| a.ends_with(b)),
        "ncontains" => negated(text(|a, b| a.contains(b))),
        "nstartsWith" => negated(text(|a, b| a.starts_with(b))),
        "nendsWith" => negated(text(|a, b| a.ends_with(b))),
        other => return Err(Error::new(format!("unknown operation `{other}`"))),
    };
    Ok(result.unwrap_or(false))
}

/// How two cells of one kind order; nulls first, as LINQ sorts them.
pub fn order(a: &Cell, b: &Cell) -> Option<Ordering> {
    Some(match (a, b) {
        (Cell::Null, Cell::Null) => Ordering::Equal,
        (Cell::Null, _) => Ordering::Less,
        (_, Cell::Null) => Ordering::Greater,
        (Cell::Text(a), Cell::Text(b)) => a.cmp(b),
        (Cell::Time(a), Cell::Time(b)) => a.cmp(b),
        (Cell::Uuid(a), Cell::Uuid(b)) => a.cmp(b),
        (Cell::Int(a), Cell::Int(b)) => a.cmp(b),
        (Cell::Float(a), Cell::Float(b)) => a.partial_cmp(b)?,
        (Cell::Int(a), Cell::Float(b)) => (*a as f64).partial_cmp(b)?,
        (Cell::Float(a), Cell::Int(b)) => a.partial_cmp(&(*b as f64))?,
        (Cell::Bool(a), Cell::Bool(b)) => a.cmp(b),
        _ => return None,
    })
}

/// A cell as filters compare it: enums by name, times to the microsecond
/// (the precision they are written with, so a value read back matches).
fn normalized(cell: Cell) -> Cell {
    match cell {
        Cell::Enum(name) => Cell::Text(name.to_string()),
        Cell::Time(nanos) => Cell::Time(nanos - nanos % 1_000),
        other => other,
    }
}

/// An operand as a cell; a wrong one names its operation.
fn parse(value: &Value, operand: Operand, operation: &str) -> Result<Cell, Error> {
    let wrong = || {
        Error::new(format!(
            "`{operation}`: {value} is not a valid operand here"
        ))
    };
    let cell = match (operand, value) {
        (_, Value::Null) => Cell::Null,
        (Operand::Text, Value::String(s)) => Cell::Text(s.clone()),
        (Operand::Enum, Value::Enum(name)) => Cell::Text(name.to_string()),
        (Operand::Bool, Value::Boolean(b)) => Cell::Bool(*b),
        (Operand::Int, Value::Number(n)) => Cell::Int(n.as_i64().ok_or_else(wrong)?),
        (Operand::Float, Value::Number(n)) => Cell::Float(n.as_f64().ok_or_else(wrong)?),
        (Operand::Time, Value::String(s)) => Cell::Time(parse_date_time(s).ok_or_else(wrong)?),
        (Operand::Uuid, Value::String(s)) => {
            Cell::Uuid(uuid::Uuid::parse_str(s).map_err(|_| wrong())?)
        }
        _ => return Err(wrong()),
    };
    Ok(normalized(cell))
}

/// An ISO 8601 / RFC 3339 date and time, in UTC (`Z`) or with an offset;
/// nanoseconds since the epoch.
pub fn parse_date_time(text: &str) -> Option<u64> {
    let text = text.trim();
    let (local, offset_seconds) = match text.strip_suffix(['Z', 'z']) {
        Some(local) => (local, 0i64),
        None => {
            let split = text.len().checked_sub(6)?;
            let (local, offset) = text.split_at(split);
            let sign = match offset.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (hours, minutes) = offset[1..].split_once(':')?;
            let seconds = hours.parse::<i64>().ok()? * 3600 + minutes.parse::<i64>().ok()? * 60;
            (local, sign * seconds)
        }
    };
    let time = humantime::parse_rfc3339_weak(local).ok()?;
    let nanos = i128::try_from(time.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos()).ok()?;
    u64::try_from(nanos - i128::from(offset_seconds) * 1_000_000_000).ok()
}

/// `order: [{fullName: ASC}, {createdAt: DESC}]` as (field, ascending).
pub fn sort_keys(order: Option<&Value>) -> Result<Vec<(String, bool)>, Error> {
    let mut keys = Vec::new();
    for item in order.into_iter().flat_map(items) {
        let Value::Object(fields) = item else {
            continue;
        };
        for (field, direction) in fields {
            match direction {
                Value::Enum(d) if d.as_str() == "ASC" => keys.push((field.to_string(), true)),
                Value::Enum(d) if d.as_str() == "DESC" => keys.push((field.to_string(), false)),
                Value::Null => {}
                other => return Err(Error::new(format!("`{field}`: {other} is not ASC or DESC"))),
            }
        }
    }
    Ok(keys)
}

/// Sorts `nodes` by `keys`, each node's cells read once.
pub fn sort(
    nodes: Vec<Node>,
    keys: &[(String, bool)],
    reader: &Reader,
) -> Result<Vec<Node>, Error> {
    if keys.is_empty() {
        return Ok(nodes);
    }
    let mut keyed = nodes
        .into_iter()
        .map(|node| {
            let cells = keys
                .iter()
                .map(|(field, _)| {
                    node.scalar(field, reader.store, reader.door)?
                        .map(normalized)
                        .ok_or_else(|| Error::new(format!("`{field}` cannot be sorted by")))
                })
                .collect::<Result<Vec<_>, Error>>()?;
            Ok((cells, node))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    keyed.sort_by(|(a, _), (b, _)| {
        keys.iter()
            .zip(a.iter().zip(b))
            .map(|((_, ascending), (a, b))| {
                let o = order(a, b).unwrap_or(Ordering::Equal);
                match ascending {
                    true => o,
                    false => o.reverse(),
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    });
    Ok(keyed.into_iter().map(|(_, node)| node).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times_are_read_in_utc_or_with_an_offset() {
        let utc = parse_date_time("2026-12-02T10:00:00Z").unwrap();
        assert_eq!(parse_date_time("2026-12-02T12:00:00+02:00"), Some(utc));
        assert_eq!(parse_date_time("2026-12-02T09:30:00-00:30"), Some(utc));
        assert_eq!(
            parse_date_time("2026-12-02T10:00:00.000250Z"),
            Some(utc + 250_000)
        );
        assert_eq!(parse_date_time("yesterday"), None);
        assert_eq!(parse_date_time("2026-12-02T10:00:00+0200"), None);
    }

    #[test]
    fn comparisons_with_null_are_false_as_in_csharp_and_eq_null_is_is_null() {
        let eq = Name::new("eq");
        let gt = Name::new("gt");
        let ngt = Name::new("ngt");
        let neq = Name::new("neq");
        assert!(compare(&Cell::Null, &eq, &Cell::Null).unwrap());
        assert!(compare(&Cell::Null, &neq, &Cell::Int(1)).unwrap());
        assert!(!compare(&Cell::Null, &gt, &Cell::Int(1)).unwrap());
        assert!(!compare(&Cell::Null, &ngt, &Cell::Int(1)).unwrap());
        assert!(compare(&Cell::Int(2), &gt, &Cell::Int(1)).unwrap());
        let contains = Name::new("contains");
        assert!(!compare(&Cell::Null, &contains, &Cell::Text("a".into())).unwrap());
        assert!(compare(
            &Cell::Text("Alice".into()),
            &contains,
            &Cell::Text("lic".into())
        )
        .unwrap());
    }
}
