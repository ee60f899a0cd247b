//! The records the GraphQL schema serves, as nodes that answer SmartFace's
//! field names: a scalar field is a `Cell`, an object field a related node
//! or list of nodes. Every served field of `smartface.graphql` is answered
//! here (a unit test walks them all); what Facegate has no value for is
//! not in the served schema.

use crate::core::event::{Block, DoorEvent, Outcome};
use crate::store::{
    Event, Face, Label, Member, MemberScope, Store, StoreError, Timestamp, Watchlist,
};
use async_graphql::Error;
use sha2::{Digest, Sha256};
use std::ops::ControlFlow;
use std::sync::{Arc, OnceLock};
use uuid::Uuid;

/// A scalar value as filters compare it and the schema writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    /// Nanoseconds since the epoch; written as RFC 3339 with microseconds.
    Time(u64),
    Uuid(Uuid),
    Int(i64),
    Float(f64),
    Bool(bool),
    Enum(&'static str),
    /// Written as base64 (SmartFace's `ByteArray`).
    Bytes(Vec<u8>),
}

fn text(value: &Option<String>) -> Cell {
    value.clone().map_or(Cell::Null, Cell::Text)
}

fn time(value: Option<Timestamp>) -> Cell {
    value.map_or(Cell::Null, |t| Cell::Time(t.0))
}

fn float(value: Option<f32>) -> Cell {
    value.map_or(Cell::Null, |v| Cell::Float(f64::from(v)))
}

fn uuid(value: Option<&str>) -> Cell {
    value.map_or(Cell::Null, |id| Cell::Uuid(uuid_of(id)))
}

/// Facegate's ids are UUIDs; one that is not (written by hand into a
/// site's records, say) is named by a UUID made from it.
pub fn uuid_of(id: &str) -> Uuid {
    Uuid::parse_str(id).unwrap_or_else(|_| derived_uuid("id", id))
}

/// A stable UUID for something Facegate names otherwise.
fn derived_uuid(kind: &str, name: &str) -> Uuid {
    let digest = Sha256::new()
        .chain_update(kind)
        .chain_update([0])
        .chain_update(name)
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// The tracklet that holds a member's registered faces, as SmartFace
/// gives every member one.
pub fn member_tracklet_id(member_id: &str) -> Uuid {
    derived_uuid("member tracklet", member_id)
}

/// What the query front end knows besides the store: the door's camera
/// stream, whose id every camera face and decision carries.
pub struct Door {
    pub stream_id: Uuid,
}

impl Door {
    /// A match result's id: the door's stream id with the event's
    /// sequence in its last 8 bytes, so the ids of a site's doors differ
    /// and an id leads back to its event.
    pub fn match_result_id(&self, sequence: u64) -> Uuid {
        let (high, _) = self.stream_id.as_u64_pair();
        Uuid::from_u64_pair(high, sequence)
    }

    /// The event sequence a match result id names, if it is this door's.
    pub fn event_of_match(&self, id: Uuid) -> Option<u64> {
        let (high, sequence) = id.as_u64_pair();
        (high == self.stream_id.as_u64_pair().0).then_some(sequence)
    }
}

/// A face as a node: its template dropped (a query never returns it, and
/// a page of faces then stays small), whether it had one kept.
#[derive(Debug)]
pub struct FaceNode {
    pub face: Face,
    pub extracted: bool,
}

impl FaceNode {
    pub fn new(mut face: Face) -> Arc<FaceNode> {
        let extracted = !face.template.is_empty();
        face.template = Vec::new();
        Arc::new(FaceNode { face, extracted })
    }

    fn seen_by_camera(&self) -> bool {
        self.face.tracklet_id.is_some()
    }
}

/// A past decision on a member: a stored event, with what it names read
/// when first asked for.
pub struct MatchRecord {
    pub event: Event,
    member: OnceLock<Option<Member>>,
    watchlist: OnceLock<Option<Watchlist>>,
    face: OnceLock<Option<Arc<FaceNode>>>,
}

impl MatchRecord {
    pub fn new(event: Event) -> Arc<MatchRecord> {
        Arc::new(MatchRecord {
            event,
            member: OnceLock::new(),
            watchlist: OnceLock::new(),
            face: OnceLock::new(),
        })
    }

    /// The watchlist that admitted or blocked the member, as named now.
    fn watchlist(&self, store: &Store) -> Result<Option<&Watchlist>, StoreError> {
        if self.watchlist.get().is_none() {
            let watchlist = match &self.event.watchlist_id {
                Some(id) => store.watchlist(id)?,
                None => None,
            };
            let _ = self.watchlist.set(watchlist);
        }
        Ok(self.watchlist.get().and_then(Option::as_ref))
    }

    fn member(&self, store: &Store) -> Result<Option<&Member>, StoreError> {
        if self.member.get().is_none() {
            let id = self.event.member_id.as_deref().unwrap_or_default();
            let _ = self.member.set(store.member(id)?);
        }
        Ok(self.member.get().and_then(Option::as_ref))
    }

    fn face(&self, store: &Store) -> Result<Option<&Arc<FaceNode>>, StoreError> {
        if self.face.get().is_none() {
            let face = match &self.event.face_id {
                Some(id) => store.face(id)?.map(FaceNode::new),
                None => None,
            };
            let _ = self.face.set(face);
        }
        Ok(self.face.get().and_then(Option::as_ref))
    }
}

/// A door decision as a subscription delivers it, with the face and the
/// names it carries read once.
pub struct Notice {
    pub event: Arc<DoorEvent>,
    pub face: Option<Arc<FaceNode>>,
    pub member: Option<Member>,
    pub watchlist: Option<Watchlist>,
    pub id: Uuid,
}

impl Notice {
    /// Reads what `event` names; the store errors leave names out rather
    /// than hold a decision back.
    pub fn read(event: Arc<DoorEvent>, store: &Store, door: &Door) -> Notice {
        let face = event
            .event
            .face_id
            .as_deref()
            .and_then(|id| store.face(id).ok().flatten())
            .map(FaceNode::new);
        let named = event.member.as_ref();
        let member = named.and_then(|m| store.member(&m.id).ok().flatten());
        let watchlist = named.and_then(|m| store.watchlist(&m.watchlist_id).ok().flatten());
        let id = match event.stored {
            true => door.match_result_id(event.event.sequence),
            false => Uuid::new_v4(),
        };
        Notice {
            event,
            face,
            member,
            watchlist,
            id,
        }
    }

    /// A decision on a member (`matchResult`), not on a stranger
    /// (`noMatchResult`); `None` for one with no face (a console opening).
    pub fn is_match(&self) -> Option<bool> {
        self.event.event.face_id.as_ref()?;
        Some(self.event.member.is_some())
    }
}

/// A page of a collection: `...CollectionSegment`.
pub struct Segment {
    pub items: Vec<Node>,
    pub has_next: bool,
    pub has_previous: bool,
    /// Counted only when asked for.
    pub total: Option<u64>,
}

#[derive(Clone)]
pub enum Node {
    Member(Arc<Member>),
    Watchlist(Arc<Watchlist>),
    /// `WatchlistMemberLabel` and `MemberLabel`.
    Label(Arc<Label>),
    /// The tracklet of a member's registered faces.
    MemberTracklet(Arc<Member>),
    /// A camera track.
    CameraTracklet(Arc<CameraTrack>),
    /// An uploaded photo's face, which is its own tracklet.
    PhotoTracklet(Arc<FaceNode>),
    Face(Arc<FaceNode>),
    MatchResult(Arc<MatchRecord>),
    Notice(Arc<Notice>),
    SpoofCheck {
        performed: bool,
        passed: bool,
    },
    Segment(Arc<Segment>),
    PageInfo {
        has_next: bool,
        has_previous: bool,
    },
}

/// What an object field of a node holds.
pub enum Related {
    One(Option<Node>),
    Many(Vec<Node>),
}

impl Node {
    /// The value of scalar field `name`; `Ok(None)` when `name` is not a
    /// scalar field of this node.
    pub fn scalar(&self, name: &str, store: &Store, door: &Door) -> Result<Option<Cell>, Error> {
        let cell = match self {
            Node::Member(m) => member_field(m, name),
            Node::Watchlist(w) => watchlist_field(w, name),
            Node::Label(l) => match name {
                "key" => Some(text(&l.key)),
                "value" => Some(text(&l.value)),
                _ => None,
            },
            Node::MemberTracklet(m) => match name {
                "id" => Some(Cell::Uuid(member_tracklet_id(&m.id))),
                "createdAt" | "timeAppeared" => Some(Cell::Time(m.created_at.0)),
                "updatedAt" => Some(time(m.updated_at)),
                "timeDisappeared" | "streamId" => Some(Cell::Null),
                _ => None,
            },
            Node::CameraTracklet(track) => camera_tracklet_field(track, name, store, door)?,
            Node::PhotoTracklet(f) => match name {
                "id" => Some(Cell::Uuid(photo_tracklet_id(&f.face))),
                "createdAt" | "timeAppeared" => Some(Cell::Time(f.face.created_at.0)),
                "updatedAt" => Some(time(f.face.updated_at)),
                "timeDisappeared" | "streamId" => Some(Cell::Null),
                _ => None,
            },
            Node::Face(f) => face_field(f, name, door),
            Node::MatchResult(r) => match_result_field(r, name, store, door)?,
            Node::Notice(n) => notice_field(n, name),
            Node::SpoofCheck { performed, passed } => match name {
                "performed" => Some(Cell::Bool(*performed)),
                "passed" => Some(Cell::Bool(*passed)),
                _ => None,
            },
            Node::Segment(s) => match name {
                "totalCount" => s.total.map(|t| Cell::Int(t as i64)),
                _ => None,
            },
            Node::PageInfo {
                has_next,
                has_previous,
            } => match name {
                "hasNextPage" => Some(Cell::Bool(*has_next)),
                "hasPreviousPage" => Some(Cell::Bool(*has_previous)),
                _ => None,
            },
        };
        Ok(cell)
    }

    /// The node or nodes object field `name` holds; `Ok(None)` when `name`
    /// is not an object field of this node.
    pub fn related(&self, name: &str, store: &Store) -> Result<Option<Related>, Error> {
        let many = |nodes: Vec<Node>| Ok(Some(Related::Many(nodes)));
        let one = |node: Option<Node>| Ok(Some(Related::One(node)));
        match (self, name) {
            (Node::Member(m), "watchlists") => many(watchlists_of(store, &m.id)?),
            (Node::Member(m), "labels") => many(labels(&m.labels)),
            (Node::Member(m), "tracklet") => one(Some(Node::MemberTracklet(m.clone()))),
            (Node::Member(m), "matchResults") => many(matches_of(store, &m.id)?),
            (Node::Watchlist(w), "watchlistMembers") => {
                let mut members = Vec::new();
                let scope = MemberScope::InWatchlist(w.id.clone());
                store.visit_members(&scope, false, &mut |member| {
                    members.push(Node::Member(Arc::new(member)));
                    ControlFlow::Continue(())
                })?;
                many(members)
            }
            (Node::MemberTracklet(m), "faces") => {
                many(store.faces_of(&m.id)?.into_iter().map(face).collect())
            }
            (Node::MemberTracklet(m), "watchlistMembers") => many(vec![Node::Member(m.clone())]),
            (Node::CameraTracklet(track), "faces") => many(
                track
                    .faces(store)?
                    .iter()
                    .cloned()
                    .map(Node::Face)
                    .collect(),
            ),
            (Node::CameraTracklet(track), "watchlistMembers") => {
                let mut owners: Vec<String> = track
                    .faces(store)?
                    .iter()
                    .filter_map(|f| f.face.member_id.clone())
                    .collect();
                owners.dedup();
                many(members(store, owners)?)
            }
            (Node::PhotoTracklet(f), "faces") => many(vec![Node::Face(f.clone())]),
            (Node::PhotoTracklet(f), "watchlistMembers") => {
                many(members(store, f.face.member_id.iter().cloned().collect())?)
            }
            (Node::Face(f), "tracklet") => one(Some(tracklet_of(f))),
            (Node::Face(f), "matchResults") => {
                let mut found = Vec::new();
                store.visit_events(false, &mut |event| {
                    if event.member_id.is_some() && event.face_id == Some(f.face.id.clone()) {
                        found.push(Node::MatchResult(MatchRecord::new(event)));
                    }
                    ControlFlow::Continue(())
                })?;
                many(found)
            }
            (Node::MatchResult(r), "watchlistMember") => {
                one(r.member(store)?.map(|m| Node::Member(Arc::new(m.clone()))))
            }
            (Node::MatchResult(r), "watchlist") => one(r
                .watchlist(store)?
                .map(|w| Node::Watchlist(Arc::new(w.clone())))),
            (Node::MatchResult(r), "face") => one(r.face(store)?.cloned().map(Node::Face)),
            (Node::MatchResult(r), "tracklet") => one(r
                .event
                .tracklet_id
                .as_deref()
                .map(|id| Node::CameraTracklet(CameraTrack::new(uuid_of(id))))),
            (Node::Notice(n), "spoofCheck") => one(Some(Node::SpoofCheck {
                performed: n.event.event.liveness.is_some(),
                passed: n.event.outcome != Outcome::Blocked(Block::Spoof),
            })),
            (Node::Notice(n), "labels") => many(
                n.event
                    .member
                    .iter()
                    .flat_map(|m| &m.labels)
                    .map(|(key, value)| {
                        Node::Label(Arc::new(Label {
                            key: Some(key.clone()),
                            value: Some(value.clone()),
                        }))
                    })
                    .collect(),
            ),
            (Node::Segment(s), "items") => many(s.items.clone()),
            (Node::Segment(s), "pageInfo") => one(Some(Node::PageInfo {
                has_next: s.has_next,
                has_previous: s.has_previous,
            })),
            _ => Ok(None),
        }
    }
}

pub fn face(face: Face) -> Node {
    Node::Face(FaceNode::new(face))
}

fn labels(labels: &[Label]) -> Vec<Node> {
    labels
        .iter()
        .map(|label| Node::Label(Arc::new(label.clone())))
        .collect()
}

fn watchlists_of(store: &Store, member_id: &str) -> Result<Vec<Node>, StoreError> {
    let mut watchlists = Vec::new();
    for id in store.watchlists_of(member_id)? {
        if let Some(watchlist) = store.watchlist(&id)? {
            watchlists.push(Node::Watchlist(Arc::new(watchlist)));
        }
    }
    watchlists.sort_by_key(|node| match node {
        Node::Watchlist(w) => (w.created_at.0, w.id.clone()),
        _ => (0, String::new()),
    });
    Ok(watchlists)
}

fn members(store: &Store, ids: Vec<String>) -> Result<Vec<Node>, StoreError> {
    let mut found = Vec::new();
    store.visit_members(&MemberScope::Ids(ids), false, &mut |member| {
        found.push(Node::Member(Arc::new(member)));
        ControlFlow::Continue(())
    })?;
    Ok(found)
}

fn matches_of(store: &Store, member_id: &str) -> Result<Vec<Node>, StoreError> {
    let mut found = Vec::new();
    store.visit_events(false, &mut |event| {
        if event.member_id.as_deref() == Some(member_id) {
            found.push(Node::MatchResult(MatchRecord::new(event)));
        }
        ControlFlow::Continue(())
    })?;
    Ok(found)
}

/// A camera track: its id, and the faces the camera kept of it, read
/// when first asked for (every field of a track but its id needs them).
pub struct CameraTrack {
    id: Uuid,
    faces: OnceLock<Vec<Arc<FaceNode>>>,
}

impl CameraTrack {
    pub fn new(id: Uuid) -> Arc<CameraTrack> {
        Arc::new(CameraTrack {
            id,
            faces: OnceLock::new(),
        })
    }

    /// Its kept faces, oldest first.
    fn faces(&self, store: &Store) -> Result<&[Arc<FaceNode>], StoreError> {
        if self.faces.get().is_none() {
            let mut found = Vec::new();
            let scope = crate::store::FaceScope::SeenWithin(0..=u64::MAX);
            store.visit_faces(&scope, false, &mut |face| {
                if face.tracklet_id.as_deref().map(uuid_of) == Some(self.id) {
                    found.push(FaceNode::new(face));
                }
                ControlFlow::Continue(())
            })?;
            let _ = self.faces.set(found);
        }
        Ok(self.faces.get().map_or(&[], Vec::as_slice))
    }
}

fn photo_tracklet_id(face: &Face) -> Uuid {
    derived_uuid("photo tracklet", &face.id)
}

/// A camera face's track, an enrolled photo's member, or the photo itself.
fn tracklet_of(f: &Arc<FaceNode>) -> Node {
    match (&f.face.tracklet_id, &f.face.member_id) {
        (Some(track), _) => Node::CameraTracklet(CameraTrack::new(uuid_of(track))),
        (None, Some(member)) => Node::MemberTracklet(Arc::new(Member {
            id: member.clone(),
            display_name: None,
            full_name: None,
            note: None,
            labels: Vec::new(),
            created_at: f.face.created_at,
            updated_at: None,
        })),
        (None, None) => Node::PhotoTracklet(f.clone()),
    }
}

fn tracklet_id_of(face: &Face) -> Uuid {
    match (&face.tracklet_id, &face.member_id) {
        (Some(track), _) => uuid_of(track),
        (None, Some(member)) => member_tracklet_id(member),
        (None, None) => photo_tracklet_id(face),
    }
}

fn member_field(m: &Member, name: &str) -> Option<Cell> {
    Some(match name {
        "id" => Cell::Text(m.id.clone()),
        "displayName" => text(&m.display_name),
        "fullName" => text(&m.full_name),
        "note" => text(&m.note),
        "createdAt" => Cell::Time(m.created_at.0),
        "updatedAt" => time(m.updated_at),
        "trackletId" => Cell::Uuid(member_tracklet_id(&m.id)),
        _ => return None,
    })
}

fn watchlist_field(w: &Watchlist, name: &str) -> Option<Cell> {
    Some(match name {
        "id" => Cell::Text(w.id.clone()),
        "displayName" => Cell::Text(w.display_name.clone()),
        "fullName" => Cell::Text(w.full_name.clone()),
        "createdAt" => Cell::Time(w.created_at.0),
        "updatedAt" => time(w.updated_at),
        "threshold" => Cell::Int(i64::from(w.threshold)),
        "previewColor" => Cell::Text(w.preview_color.clone()),
        _ => return None,
    })
}

fn camera_tracklet_field(
    track: &CameraTrack,
    name: &str,
    store: &Store,
    door: &Door,
) -> Result<Option<Cell>, Error> {
    let seen =
        |face: Option<&Arc<FaceNode>>| face.map_or(Cell::Null, |f| Cell::Time(f.face.created_at.0));
    Ok(Some(match name {
        "id" => Cell::Uuid(track.id),
        "streamId" => Cell::Uuid(door.stream_id),
        "createdAt" | "timeAppeared" => seen(track.faces(store)?.first()),
        "timeDisappeared" => seen(track.faces(store)?.last()),
        "updatedAt" => Cell::Null,
        _ => return Ok(None),
    }))
}

/// The fields a face and the decisions on it share.
const FACE_MEASURES: [&str; 20] = [
    "faceArea",
    "faceSize",
    "size",
    "faceOrder",
    "facesOnFrameCount",
    "templateQuality",
    "faceQuality",
    "quality",
    "yawAngle",
    "pitchAngle",
    "rollAngle",
    "age",
    "gender",
    "sharpness",
    "brightness",
    "leftEyeX",
    "leftEyeY",
    "rightEyeX",
    "rightEyeY",
    "frameId",
];

/// Field `name` of the face a decision was on: null when the face is no
/// longer kept.
fn measure_of(face: Option<&Arc<FaceNode>>, name: &str) -> Option<Cell> {
    match face {
        Some(face) => face_measure(&face.face, name),
        None => FACE_MEASURES.contains(&name).then_some(Cell::Null),
    }
}

fn face_measure(face: &Face, name: &str) -> Option<Cell> {
    let [x1, y1, x2, y2] = face.bbox.map(f64::from);
    Some(match name {
        "faceArea" => Cell::Float((x2 - x1) * (y2 - y1)),
        "faceSize" | "size" => Cell::Float(x2 - x1),
        "faceOrder" => Cell::Int(i64::from(face.face_order)),
        "facesOnFrameCount" => Cell::Int(i64::from(face.faces_in_image)),
        "templateQuality" => Cell::Int(i64::from(face.template_quality)),
        "faceQuality" | "quality" => Cell::Int(i64::from(face.quality)),
        "yawAngle" => float(face.yaw),
        "pitchAngle" => float(face.pitch),
        "rollAngle" => float(face.roll),
        "age" => float(face.age),
        "gender" => float(face.gender),
        "sharpness" => float(face.sharpness),
        "brightness" => float(face.brightness),
        "leftEyeX" => Cell::Float(f64::from(face.left_eye[0])),
        "leftEyeY" => Cell::Float(f64::from(face.left_eye[1])),
        "rightEyeX" => Cell::Float(f64::from(face.right_eye[0])),
        "rightEyeY" => Cell::Float(f64::from(face.right_eye[1])),
        "frameId" => uuid(face.frame_id.as_deref()),
        _ => return None,
    })
}

fn face_field(f: &FaceNode, name: &str, door: &Door) -> Option<Cell> {
    let face = &f.face;
    let [x1, y1, x2, y2] = face.bbox.map(f64::from);
    let state = match f.extracted {
        true => "EXTRACTED",
        false => "NEW",
    };
    Some(match name {
        "id" => Cell::Uuid(uuid_of(&face.id)),
        "imageDataId" => Cell::Uuid(uuid_of(&face.image_id)),
        "faceState" | "state" => Cell::Enum(state),
        // Auto-learn is not a Facegate feature: every face is regular.
        "faceType" | "type" => Cell::Enum("REGULAR"),
        "cropLeftTopX" | "cropLeftBottomX" => Cell::Float(x1),
        "cropRightTopX" | "cropRightBottomX" => Cell::Float(x2),
        "cropLeftTopY" | "cropRightTopY" => Cell::Float(y1),
        "cropLeftBottomY" | "cropRightBottomY" => Cell::Float(y2),
        "trackletId" => Cell::Uuid(tracklet_id_of(face)),
        "streamId" => match f.seen_by_camera() {
            true => Cell::Uuid(door.stream_id),
            false => Cell::Null,
        },
        "createdAt" => Cell::Time(face.created_at.0),
        "updatedAt" => time(face.updated_at),
        // Processed by the camera's pipeline; an uploaded photo was not.
        "processedAt" => match f.seen_by_camera() {
            true => Cell::Time(face.created_at.0),
            false => Cell::Null,
        },
        _ => return face_measure(face, name),
    })
}

fn match_result_field(
    r: &MatchRecord,
    name: &str,
    store: &Store,
    door: &Door,
) -> Result<Option<Cell>, Error> {
    let e = &r.event;
    let cell = match name {
        "id" => Cell::Uuid(door.match_result_id(e.sequence)),
        "type" => Cell::Enum("MATCH"),
        "watchlistMemberId" => text(&e.member_id),
        // An event from before events named their camera was the door's.
        "streamId" => match e.stream_id.is_empty() {
            true => Cell::Uuid(door.stream_id),
            false => Cell::Uuid(uuid_of(&e.stream_id)),
        },
        "score" => Cell::Int(i64::from(e.score.unwrap_or(0))),
        "createdAt" | "processedAt" => Cell::Time(e.at.0),
        "updatedAt" => Cell::Null,
        "trackletId" => uuid(e.tracklet_id.as_deref()),
        "faceId" => uuid(e.face_id.as_deref()),
        "watchlistMemberFullName" => r.member(store)?.map_or(Cell::Null, |m| text(&m.full_name)),
        "watchlistMemberDisplayName" => r
            .member(store)?
            .map_or(Cell::Null, |m| text(&m.display_name)),
        "watchlistId" => text(&e.watchlist_id),
        "watchlistFullName" => r
            .watchlist(store)?
            .map_or(Cell::Null, |w| Cell::Text(w.full_name.clone())),
        "watchlistDisplayName" => r
            .watchlist(store)?
            .map_or(Cell::Null, |w| Cell::Text(w.display_name.clone())),
        "previewColor" => r
            .watchlist(store)?
            .map_or(Cell::Null, |w| Cell::Text(w.preview_color.clone())),
        _ => return Ok(measure_of(r.face(store)?, name)),
    };
    Ok(Some(cell))
}

fn notice_field(n: &Notice, name: &str) -> Option<Cell> {
    let event = &n.event;
    let member = event.member.as_ref();
    let micros = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64)
    };
    Some(match name {
        "cropImage" => Cell::Bytes(event.face_image.clone()),
        "frameTimestampMicroseconds" => Cell::Int(micros(event.detected_at)),
        "leftEyeX" => Cell::Float(f64::from(event.eyes[0])),
        "leftEyeY" => Cell::Float(f64::from(event.eyes[1])),
        "rightEyeX" => Cell::Float(f64::from(event.eyes[2])),
        "rightEyeY" => Cell::Float(f64::from(event.eyes[3])),
        "score" => Cell::Int(i64::from(event.event.score.unwrap_or(0))),
        "watchlistMemberId" => member.map_or(Cell::Null, |m| Cell::Text(m.id.clone())),
        "watchlistMemberFullName" => n.member.as_ref().map_or(Cell::Null, |m| text(&m.full_name)),
        "watchlistMemberDisplayName" => {
            member.map_or(Cell::Null, |m| Cell::Text(m.display_name.clone()))
        }
        "watchlistId" => member.map_or(Cell::Null, |m| Cell::Text(m.watchlist_id.clone())),
        "watchlistFullName" => n
            .watchlist
            .as_ref()
            .map_or(Cell::Null, |w| Cell::Text(w.full_name.clone())),
        "watchlistDisplayName" => {
            member.map_or(Cell::Null, |m| Cell::Text(m.watchlist_display_name.clone()))
        }
        "previewColor" => n
            .watchlist
            .as_ref()
            .map_or(Cell::Null, |w| Cell::Text(w.preview_color.clone())),
        "id" => Cell::Uuid(n.id),
        "type" => match member {
            Some(_) => Cell::Enum("MATCH"),
            None => Cell::Enum("NO_MATCH"),
        },
        "streamId" => Cell::Uuid(uuid_of(&event.event.stream_id)),
        "createdAt" | "processedAt" => Cell::Time(event.event.at.0),
        "updatedAt" => Cell::Null,
        "trackletId" => uuid(event.event.tracklet_id.as_deref()),
        "faceId" => uuid(event.event.face_id.as_deref()),
        _ => return measure_of(n.face.as_ref(), name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_match_result_id_leads_back_to_its_event_and_only_on_its_door() {
        let door = Door {
            stream_id: Uuid::new_v4(),
        };
        let id = door.match_result_id(41);
        assert_eq!(door.event_of_match(id), Some(41));
        let other = Door {
            stream_id: Uuid::new_v4(),
        };
        assert_eq!(other.event_of_match(id), None);
    }

    #[test]
    fn ids_that_are_not_uuids_are_named_by_a_stable_uuid() {
        let id = Uuid::new_v4();
        assert_eq!(uuid_of(&id.to_string()), id);
        assert_eq!(uuid_of("alice"), uuid_of("alice"));
        assert_ne!(uuid_of("alice"), uuid_of("bob"));
        assert_ne!(member_tracklet_id("alice"), uuid_of("alice"));
    }
}
