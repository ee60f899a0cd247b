//! The served schema, built at start from `smartface.graphql`: every type,
//! field and argument as SmartFace names it, each object field answered by
//! the node it belongs to (`nodes.rs`), each list field filtered and sorted
//! by its `where` and `order` (`filter.rs`), the four collections paged
//! (`queries.rs`) and the two subscriptions fed by the core's bus
//! (`subscriptions.rs`).

use super::filter::{self, Inputs, Reader};
use super::nodes::{Cell, Door, Node, Related};
use super::{queries, subscriptions};
use crate::core::event::rfc3339;
use crate::core::Core;
use crate::store::Timestamp;
use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, Scalar,
    Schema, Subscription, SubscriptionField, TypeRef,
};
use async_graphql::parser::types::{
    BaseType, FieldDefinition, InputValueDefinition, ServiceDocument, Type, TypeDefinition,
    TypeKind, TypeSystemDefinition,
};
use async_graphql::{Error, Name, Value};
use base64::Engine;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The served subset of SmartFace's schema.
pub const SDL: &str = include_str!("smartface.graphql");

/// What a query may cost, from `[graphql]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_complexity: usize,
    /// SmartFace's page: `take` defaults to it and may not exceed it.
    pub max_page_size: usize,
}

/// What every resolver reads: the core, the door's stream, the schema's
/// input types, and the limits.
pub struct Served {
    pub core: Arc<Core>,
    pub door: Door,
    pub inputs: Inputs,
    pub limits: Limits,
}

impl Served {
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            store: &self.core.catalog.store,
            door: &self.door,
        }
    }
}

/// When a query must have finished: past it, every resolver and every
/// walk over the store stops with an error, so a query that outlives its
/// answer's wait does not go on holding a thread.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub std::time::Instant);

impl Deadline {
    /// Fails once the query's time is up; a subscription has none.
    pub fn check(ctx: &ResolverContext) -> Result<(), Error> {
        match ctx.data_opt::<Deadline>() {
            Some(Deadline(at)) if std::time::Instant::now() > *at => Err(Error::new(
                "the query took too long: ask for fewer records (take, where)",
            )),
            _ => Ok(()),
        }
    }
}

fn type_ref(ty: &Type) -> TypeRef {
    let base = match &ty.base {
        BaseType::Named(name) => TypeRef::Named(name.to_string().into()),
        BaseType::List(inner) => TypeRef::List(Box::new(type_ref(inner))),
    };
    match ty.nullable {
        true => base,
        false => TypeRef::NonNull(Box::new(base)),
    }
}

pub fn base_name(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => base_name(inner),
    }
}

fn argument(definition: &InputValueDefinition) -> InputValue {
    InputValue::new(
        definition.name.node.to_string(),
        type_ref(&definition.ty.node),
    )
}

/// The parsed SDL's type definitions.
pub fn definitions() -> Result<Vec<TypeDefinition>, String> {
    let document: ServiceDocument = async_graphql::parser::parse_schema(SDL)
        .map_err(|e| format!("the served GraphQL schema does not parse: {e}"))?;
    Ok(document
        .definitions
        .into_iter()
        .filter_map(|definition| match definition {
            TypeSystemDefinition::Type(ty) => Some(ty.node),
            _ => None,
        })
        .collect())
}

/// Each input type's fields and their types' names.
fn input_fields(definitions: &[TypeDefinition]) -> HashMap<String, HashMap<String, String>> {
    definitions
        .iter()
        .filter_map(|definition| match &definition.kind {
            TypeKind::InputObject(input) => Some((
                definition.name.node.to_string(),
                input
                    .fields
                    .iter()
                    .map(|field| {
                        let name = field.node.name.node.to_string();
                        (name, base_name(&field.node.ty.node).to_string())
                    })
                    .collect(),
            )),
            _ => None,
        })
        .collect()
}

pub fn build(core: Arc<Core>, door: Door, limits: Limits) -> Result<Schema, String> {
    let definitions = definitions()?;
    let objects: HashSet<String> = definitions
        .iter()
        .filter(|d| matches!(d.kind, TypeKind::Object(_)))
        .map(|d| d.name.node.to_string())
        .collect();
    let served = Arc::new(Served {
        core,
        door,
        inputs: Inputs::new(input_fields(&definitions)),
        limits,
    });
    let mut builder = Schema::build("Query", None, Some("Subscription"))
        .data(served)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(limits.max_depth * 4)
        .limit_directives(8);
    for definition in &definitions {
        let name = definition.name.node.to_string();
        builder = match &definition.kind {
            TypeKind::Scalar => builder.register(scalar(&name)),
            TypeKind::Enum(e) => builder.register(
                Enum::new(&name).items(e.values.iter().map(|v| v.node.value.node.to_string())),
            ),
            TypeKind::InputObject(input) => {
                let mut object = InputObject::new(&name);
                for field in &input.fields {
                    object = object.field(argument(&field.node));
                }
                builder.register(object)
            }
            TypeKind::Object(object) if name == "Subscription" => {
                let mut subscription = Subscription::new(&name);
                for field in &object.fields {
                    subscription = subscription.field(subscription_field(&field.node));
                }
                builder.register(subscription)
            }
            TypeKind::Object(object) => {
                let mut served_object = Object::new(&name);
                for field in &object.fields {
                    let field = &field.node;
                    let resolver = match name.as_str() {
                        "Query" => query_field(field)?,
                        _ => node_field(field, objects.contains(base_name(&field.ty.node))),
                    };
                    served_object = served_object.field(resolver);
                }
                builder.register(served_object)
            }
            _ => return Err(format!("the served schema has an unexpected type {name}")),
        };
    }
    builder
        .finish()
        .map_err(|e| format!("cannot build the GraphQL schema: {e}"))
}

/// SmartFace's scalars, each checked as HotChocolate reads it.
fn scalar(name: &str) -> Scalar {
    let scalar = Scalar::new(name);
    match name {
        "UUID" => {
            scalar.validator(|v| matches!(v, Value::String(s) if uuid::Uuid::parse_str(s).is_ok()))
        }
        "DateTime" => scalar
            .validator(|v| matches!(v, Value::String(s) if filter::parse_date_time(s).is_some())),
        "Long" => scalar.validator(|v| matches!(v, Value::Number(n) if n.is_i64())),
        _ => scalar.validator(|v| matches!(v, Value::String(_))),
    }
}

fn with_arguments(mut field: Field, definition: &FieldDefinition) -> Field {
    for argument_definition in &definition.arguments {
        field = field.argument(argument(&argument_definition.node));
    }
    field
}

fn query_field(definition: &FieldDefinition) -> Result<Field, String> {
    let name = definition.name.node.to_string();
    let collection = queries::Collection::named(&name)
        .ok_or_else(|| format!("the served schema has a query `{name}` Facegate cannot answer"))?;
    let field = Field::new(name, type_ref(&definition.ty.node), move |ctx| {
        FieldFuture::new(async move {
            let served = ctx.data::<Arc<Served>>()?;
            Deadline::check(&ctx)?;
            let segment = queries::collection(served, collection, &ctx)?;
            Ok(Some(FieldValue::owned_any(Node::Segment(Arc::new(
                segment,
            )))))
        })
    });
    Ok(with_arguments(field, definition))
}

fn subscription_field(definition: &FieldDefinition) -> SubscriptionField {
    let name = definition.name.node.to_string();
    let wants_match = name == "matchResult";
    let mut field = SubscriptionField::new(name, type_ref(&definition.ty.node), move |ctx| {
        subscriptions::decisions(ctx, wants_match)
    });
    for argument_definition in &definition.arguments {
        field = field.argument(argument(&argument_definition.node));
    }
    field
}

/// A field of a node: a scalar, or the related nodes, filtered and sorted
/// by the field's `where` and `order` when it has them.
fn node_field(definition: &FieldDefinition, is_object: bool) -> Field {
    let name = definition.name.node.to_string();
    let filter_input = definition
        .arguments
        .iter()
        .find(|a| a.node.name.node == "where")
        .map(|a| base_name(&a.node.ty.node).to_string());
    let field_name = name.clone();
    let field = Field::new(name, type_ref(&definition.ty.node), move |ctx| {
        let field_name = field_name.clone();
        let filter_input = filter_input.clone();
        FieldFuture::new(async move {
            let served = ctx.data::<Arc<Served>>()?;
            Deadline::check(&ctx)?;
            let node = ctx.parent_value.try_downcast_ref::<Node>()?;
            match is_object {
                true => related(served, node, &field_name, filter_input.as_deref(), &ctx),
                false => {
                    let store = &served.core.catalog.store;
                    let cell = node
                        .scalar(&field_name, store, &served.door)?
                        .ok_or_else(|| {
                            Error::new(format!("`{field_name}` has no value on this object"))
                        })?;
                    Ok(Some(FieldValue::value(value(cell))))
                }
            }
        })
    });
    with_arguments(field, definition)
}

fn related<'a>(
    served: &Served,
    node: &Node,
    name: &str,
    filter_input: Option<&str>,
    ctx: &ResolverContext<'a>,
) -> Result<Option<FieldValue<'a>>, Error> {
    let reader = served.reader();
    let related = node
        .related(name, reader.store)?
        .ok_or_else(|| Error::new(format!("`{name}` has no value on this object")))?;
    let condition = ctx.args.get("where").map(|w| w.as_value().clone());
    let passes = |node: &Node| match (&condition, filter_input) {
        (Some(condition), Some(input)) => served.inputs.accepts(node, condition, input, &reader),
        _ => Ok(true),
    };
    match related {
        Related::One(None) => Ok(None),
        Related::One(Some(node)) => match passes(&node)? {
            true => Ok(Some(FieldValue::owned_any(node))),
            false => Ok(None),
        },
        Related::Many(nodes) => {
            let mut kept = Vec::with_capacity(nodes.len());
            for node in nodes {
                if passes(&node)? {
                    kept.push(node);
                }
            }
            let order = ctx.args.get("order").map(|o| o.as_value().clone());
            let kept = filter::sort(kept, &filter::sort_keys(order.as_ref())?, &reader)?;
            Ok(Some(FieldValue::list(
                kept.into_iter().map(FieldValue::owned_any),
            )))
        }
    }
}

/// A cell as the response writes it.
pub fn value(cell: Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Text(text) => Value::String(text),
        Cell::Time(nanos) => Value::String(rfc3339(Timestamp(nanos))),
        Cell::Uuid(id) => Value::String(id.to_string()),
        Cell::Int(n) => Value::from(n),
        Cell::Float(x) => serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number),
        Cell::Bool(b) => Value::Boolean(b),
        Cell::Enum(name) => Value::Enum(Name::new(name)),
        Cell::Bytes(bytes) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::{DoorEvent, NamedMember, Outcome};
    use crate::graphql::nodes::{self, MatchRecord, Notice, Segment};
    use crate::store::{Event, Face, Label, Member, Store, Watchlist};

    fn member() -> Member {
        Member {
            id: "alice".into(),
            display_name: Some("Alice".into()),
            full_name: None,
            note: None,
            labels: vec![Label {
                key: Some("badge".into()),
                value: None,
            }],
            created_at: Timestamp::now(),
            updated_at: None,
        }
    }

    fn event() -> Event {
        Event {
            sequence: 3,
            at: Timestamp::now(),
            member_id: Some("alice".into()),
            score: Some(80),
            liveness: Some(90.0),
            opened: true,
            reason: "granted".into(),
            crop: Vec::new(),
            face_id: Some(uuid::Uuid::new_v4().to_string()),
            tracklet_id: Some(uuid::Uuid::new_v4().to_string()),
            watchlist_id: Some("staff".into()),
            panel_verdict: Default::default(),
            stream_id: uuid::Uuid::new_v4().to_string(),
            direction: Default::default(),
        }
    }

    /// One node of each kind a served object type is answered by.
    fn nodes_of(object: &str) -> Vec<Node> {
        let face = Face::with_template("f", "alice", "i", vec![1.0]);
        let door_event = DoorEvent {
            event: event(),
            stored: true,
            outcome: Outcome::Granted,
            member: Some(NamedMember::default()),
            detected_at: std::time::SystemTime::now(),
            eyes: [0.0; 4],
            face_image: Vec::new(),
        };
        let notice = Notice {
            event: Arc::new(door_event),
            face: Some(nodes::FaceNode::new(face.clone())),
            member: Some(member()),
            watchlist: None,
            id: uuid::Uuid::new_v4(),
        };
        let segment = Segment {
            items: Vec::new(),
            has_next: false,
            has_previous: false,
            total: Some(0),
        };
        match object {
            "WatchlistMember" => vec![Node::Member(Arc::new(member()))],
            "Watchlist" => vec![Node::Watchlist(Arc::new(Watchlist {
                id: "staff".into(),
                display_name: "Staff".into(),
                full_name: "Staff".into(),
                threshold: 40,
                preview_color: "#fff".into(),
                created_at: Timestamp::now(),
                updated_at: None,
            }))],
            "WatchlistMemberLabel" | "MemberLabel" => vec![Node::Label(Arc::new(Label {
                key: None,
                value: None,
            }))],
            "Tracklet" => vec![
                Node::MemberTracklet(Arc::new(member())),
                Node::CameraTracklet(nodes::CameraTrack::new(uuid::Uuid::new_v4())),
                Node::PhotoTracklet(nodes::FaceNode::new(face)),
            ],
            "Face" => vec![nodes::face(face)],
            "MatchResult" => vec![Node::MatchResult(MatchRecord::new(event()))],
            "MatchResultNotificationDTO" | "NoMatchResultNotificationDTO" => {
                vec![Node::Notice(Arc::new(notice))]
            }
            "SpoofCheck" => vec![Node::SpoofCheck {
                performed: true,
                passed: true,
            }],
            "CollectionSegmentInfo" => vec![Node::PageInfo {
                has_next: false,
                has_previous: false,
            }],
            segment_type if segment_type.ends_with("CollectionSegment") => {
                vec![Node::Segment(Arc::new(segment))]
            }
            other => panic!("no node answers {other}"),
        }
    }

    #[test]
    fn every_field_of_the_served_schema_is_answered_by_its_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let door = Door {
            stream_id: uuid::Uuid::new_v4(),
        };
        let definitions = definitions().unwrap();
        let objects: HashSet<String> = definitions
            .iter()
            .filter(|d| matches!(d.kind, TypeKind::Object(_)))
            .map(|d| d.name.node.to_string())
            .collect();
        let mut checked = 0;
        for definition in &definitions {
            let name = definition.name.node.as_str();
            let TypeKind::Object(object) = &definition.kind else {
                continue;
            };
            if name == "Query" || name == "Subscription" {
                continue;
            }
            for node in nodes_of(name) {
                for field in &object.fields {
                    let field = &field.node;
                    let field_name = field.name.node.as_str();
                    let answered = match objects.contains(base_name(&field.ty.node)) {
                        true => node.related(field_name, &store).unwrap().is_some(),
                        false => node.scalar(field_name, &store, &door).unwrap().is_some(),
                    };
                    assert!(answered, "{name}.{field_name} is not answered");
                    checked += 1;
                }
            }
        }
        assert!(checked >= 200, "{checked}");
    }

    #[test]
    fn the_served_schema_builds_and_every_query_has_an_answer() {
        let definitions = definitions().unwrap();
        let query = definitions.iter().find(|d| d.name.node == "Query").unwrap();
        let TypeKind::Object(query) = &query.kind else {
            panic!("Query is an object");
        };
        for field in &query.fields {
            assert!(queries::Collection::named(&field.node.name.node).is_some());
        }
    }
}
