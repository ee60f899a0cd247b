//! Schedules: named weekly time windows and holidays, in a time zone, as
//! access-control panels have them. A watchlist given a schedule
//! (`edge.watchlist_schedules`) admits its members only inside it.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::SystemTime;

/// The most windows and holidays one schedule may list, and the most
/// schedules and scheduled watchlists a door takes: bounds on the config
/// and on what a site sends, far above what a door needs.
const MAX_ENTRIES: usize = 1000;

/// One `[[schedule]]` table, as written in the config and as the site
/// keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub name: String,
    /// "mon-fri 07:00-19:00", ...
    #[serde(default)]
    pub windows: Vec<String>,
    /// "2026-12-25", ...: closed all day.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// An IANA zone name; empty for the system's.
    #[serde(default)]
    pub time_zone: String,
}

/// The schedules and the watchlists they are given, as written: what a
/// door's config holds and what a site shares with every door.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSet {
    pub schedules: Vec<ScheduleConfig>,
    /// Watchlist id -> schedule name.
    pub watchlist_schedules: BTreeMap<String, String>,
}

impl ScheduleSet {
    pub fn is_empty(&self) -> bool {
        self.schedules.is_empty() && self.watchlist_schedules.is_empty()
    }

    /// The schedules joined to their watchlists; the first fault, named,
    /// refuses the whole set.
    pub fn compile(&self) -> Result<WatchlistSchedules, String> {
        if self.schedules.len() > MAX_ENTRIES || self.watchlist_schedules.len() > MAX_ENTRIES {
            return Err(format!(
                "invalid config: more than {MAX_ENTRIES} schedules or scheduled watchlists"
            ));
        }
        let schedules = self
            .schedules
            .iter()
            .map(|s| Schedule::parse(&s.name, &s.windows, &s.holidays, &s.time_zone))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, schedule) in schedules.iter().enumerate() {
            if schedules[..i].iter().any(|s| s.name == schedule.name) {
                return Err(format!(
                    "invalid config: two schedules are named {:?}",
                    schedule.name
                ));
            }
        }
        WatchlistSchedules::new(&schedules, &self.watchlist_schedules)
    }

    /// As `compile`, for a set this door did not check before it was
    /// shared (a site's): one it cannot read admits no scheduled watchlist
    /// at any hour, since a fault must never open a door.
    pub fn compile_closed(&self) -> WatchlistSchedules {
        self.compile().unwrap_or_else(|fault| {
            log::error!("{fault}: the scheduled watchlists admit nobody until it is corrected");
            let closed = Schedule::closed();
            WatchlistSchedules {
                by_watchlist: self
                    .watchlist_schedules
                    .keys()
                    .take(MAX_ENTRIES)
                    .map(|watchlist| (watchlist.clone(), closed.clone()))
                    .collect(),
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub name: String,
    windows: Vec<Window>,
    holidays: BTreeSet<Date>,
    zone: TimeZone,
}

/// Days of the week (Monday first) and a time of day: from `start` to
/// `end`, both in minutes since midnight. An `end` not after `start`
/// crosses midnight into the next day.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Window {
    days: [bool; 7],
    start: u16,
    end: u16,
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const MINUTES_PER_DAY: u16 = 24 * 60;

impl Schedule {
    /// A schedule from its config: windows such as "mon-fri 07:00-19:00",
    /// "sat,sun 09:00-13:00" or "daily 22:00-06:00"; holidays as
    /// "2026-12-25"; the zone's IANA name, or "" for the system's.
    pub fn parse(
        name: &str,
        windows: &[String],
        holidays: &[String],
        time_zone: &str,
    ) -> Result<Schedule, String> {
        let bad = |what: &str| format!("invalid config: schedule {name:?}: {what}");
        if name.is_empty() {
            return Err("invalid config: a schedule has no name".into());
        }
        if windows.len() > MAX_ENTRIES || holidays.len() > MAX_ENTRIES {
            return Err(bad(&format!("more than {MAX_ENTRIES} windows or holidays")));
        }
        let windows = windows
            .iter()
            .map(|text| {
                Window::parse(text).ok_or_else(|| {
                    bad(&format!(
                        "window {text:?} is not DAYS HH:MM-HH:MM (e.g. \"mon-fri 07:00-19:00\")"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let holidays = holidays
            .iter()
            .map(|text| {
                text.parse::<Date>()
                    .map_err(|_| bad(&format!("holiday {text:?} is not a date YYYY-MM-DD")))
            })
            .collect::<Result<_, _>>()?;
        let zone = match time_zone {
            "" => TimeZone::try_system()
                .map_err(|e| bad(&format!("the system's time zone is unknown ({e})")))?,
            zone => TimeZone::get(zone)
                .map_err(|_| bad(&format!("time zone {zone:?} is not in the tz database")))?,
        };
        Ok(Schedule {
            name: name.to_string(),
            windows,
            holidays,
            zone,
        })
    }

    /// A schedule that admits at no hour.
    fn closed() -> Schedule {
        Schedule {
            name: "closed (unreadable schedules)".into(),
            windows: Vec::new(),
            holidays: BTreeSet::new(),
            zone: TimeZone::UTC,
        }
    }

    /// Whether the schedule admits at `at`: not a holiday where it is, and
    /// inside one of its windows there.
    pub fn admits(&self, at: SystemTime) -> bool {
        let Ok(at) = Timestamp::try_from(at) else {
            return false;
        };
        let local = self.zone.to_datetime(at);
        if self.holidays.contains(&local.date()) {
            return false;
        }
        let day = local.weekday().to_monday_zero_offset() as usize;
        let minute = minutes(local.time());
        self.windows.iter().any(|window| window.covers(day, minute))
    }

    /// The zone's name, for the console.
    pub fn zone_name(&self) -> &str {
        self.zone.iana_name().unwrap_or("system")
    }
}

impl Window {
    fn parse(text: &str) -> Option<Window> {
        let (days, hours) = text.trim().split_once(' ')?;
        let (start, end) = hours.trim().split_once('-')?;
        let (start, end) = (clock(start)?, clock(end)?);
        // 24:00 ends a day; it starts none.
        (start < MINUTES_PER_DAY).then_some(())?;
        Some(Window {
            days: weekdays(days)?,
            start,
            end,
        })
    }

    /// Whether minute `minute` of weekday `day` (Monday 0) is inside.
    fn covers(&self, day: usize, minute: u16) -> bool {
        if self.start < self.end {
            return self.days[day] && (self.start..self.end).contains(&minute);
        }
        // Across midnight: the evening of a listed day, or the morning
        // after one.
        let yesterday = (day + 6) % 7;
        (self.days[day] && minute >= self.start) || (self.days[yesterday] && minute < self.end)
    }
}

fn minutes(time: Time) -> u16 {
    time.hour() as u16 * 60 + time.minute() as u16
}

/// "HH:MM", 00:00 to 24:00.
fn clock(text: &str) -> Option<u16> {
    let (hours, mins) = text.split_once(':')?;
    let all_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    (all_digits(hours) && all_digits(mins)).then_some(())?;
    let (hours, mins): (u16, u16) = (hours.parse().ok()?, mins.parse().ok()?);
    let minute = hours * 60 + mins;
    (mins < 60 && minute <= MINUTES_PER_DAY).then_some(minute)
}

/// "daily", "mon-fri", "sat,sun", "mon,wed-fri".
fn weekdays(text: &str) -> Option<[bool; 7]> {
    if text == "daily" {
        return Some([true; 7]);
    }
    let index = |name: &str| DAY_NAMES.iter().position(|day| *day == name);
    let mut days = [false; 7];
    for part in text.split(',') {
        let (from, to) = part.split_once('-').unwrap_or((part, part));
        let (from, to) = (index(from)?, index(to)?);
        // A range may wrap the week's end: "fri-mon".
        let mut day = from;
        loop {
            days[day] = true;
            if day == to {
                break;
            }
            day = (day + 1) % 7;
        }
    }
    Some(days)
}

/// The schedules of the door's watchlists: a watchlist without one
/// admits at all hours.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchlistSchedules {
    by_watchlist: HashMap<String, Schedule>,
}

impl WatchlistSchedules {
    /// Joins `edge.watchlist_schedules` (watchlist id -> schedule name) to
    /// the schedules, refusing a name that no schedule has.
    pub fn new(
        schedules: &[Schedule],
        assigned: &BTreeMap<String, String>,
    ) -> Result<WatchlistSchedules, String> {
        let by_watchlist = assigned
            .iter()
            .map(|(watchlist, name)| {
                let schedule = schedules.iter().find(|s| s.name == *name).ok_or_else(|| {
                    format!(
                        "invalid config: edge.watchlist_schedules gives watchlist {watchlist:?} \
                         the schedule {name:?}, which no [[schedule]] defines"
                    )
                })?;
                Ok((watchlist.clone(), schedule.clone()))
            })
            .collect::<Result<_, String>>()?;
        Ok(WatchlistSchedules { by_watchlist })
    }

    /// Whether `watchlist` admits its members at `at`.
    pub fn admits(&self, watchlist: &str, at: SystemTime) -> bool {
        self.by_watchlist
            .get(watchlist)
            .is_none_or(|schedule| schedule.admits(at))
    }

    /// Each scheduled watchlist, its schedule, and whether it admits now:
    /// what the console shows.
    pub fn states(&self, at: SystemTime) -> Vec<(String, &Schedule, bool)> {
        let mut states: Vec<_> = self
            .by_watchlist
            .iter()
            .map(|(watchlist, schedule)| (watchlist.clone(), schedule, schedule.admits(at)))
            .collect();
        states.sort_by(|a, b| a.0.cmp(&b.0));
        states
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(civil: &str, zone: &str) -> SystemTime {
        let zoned = civil
            .parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned_datetime(TimeZone::get(zone).unwrap())
            .unwrap();
        SystemTime::try_from(zoned.timestamp()).unwrap()
    }

    fn office(zone: &str) -> Schedule {
        Schedule::parse(
            "office-hours",
            &["mon-fri 07:00-19:00".into(), "sat 09:00-13:00".into()],
            &["2026-12-25".into()],
            zone,
        )
        .unwrap()
    }

    #[test]
    fn a_weekday_window_admits_inside_and_refuses_outside() {
        let office = office("Europe/Bratislava");
        let zone = "Europe/Bratislava";
        // 2026-12-02 is a Wednesday.
        assert!(office.admits(at("2026-12-02T07:00", zone)));
        assert!(office.admits(at("2026-12-02T18:59", zone)));
        assert!(!office.admits(at("2026-12-02T19:00", zone)));
        assert!(!office.admits(at("2026-12-02T03:00", zone)));
        assert!(office.admits(at("2026-12-05T10:00", zone)), "Saturday");
        assert!(!office.admits(at("2026-12-05T14:00", zone)));
        assert!(!office.admits(at("2026-12-06T10:00", zone)), "Sunday");
    }

    #[test]
    fn a_holiday_refuses_all_day() {
        let office = office("Europe/Bratislava");
        // Friday 2026-12-25, inside the weekday window.
        assert!(!office.admits(at("2026-12-25T10:00", "Europe/Bratislava")));
        assert!(office.admits(at("2026-12-24T10:00", "Europe/Bratislava")));
    }

    #[test]
    fn a_schedule_reads_the_clock_of_its_own_time_zone() {
        let (new_york, tokyo) = (office("America/New_York"), office("Asia/Tokyo"));
        // 10:00 in New York on a Wednesday is 00:00 Thursday in Tokyo.
        let moment = at("2026-12-02T10:00", "America/New_York");
        assert!(new_york.admits(moment));
        assert!(!tokyo.admits(moment));
        assert_eq!(tokyo.zone_name(), "Asia/Tokyo");
    }

    #[test]
    fn a_window_across_midnight_covers_the_next_morning() {
        let nights = Schedule::parse("nights", &["fri 22:00-06:00".into()], &[], "UTC").unwrap();
        assert!(nights.admits(at("2026-12-04T23:00", "UTC")), "Friday night");
        assert!(
            nights.admits(at("2026-12-05T05:59", "UTC")),
            "Saturday morning"
        );
        assert!(!nights.admits(at("2026-12-05T06:00", "UTC")));
        assert!(
            !nights.admits(at("2026-12-04T05:00", "UTC")),
            "Friday morning"
        );
    }

    #[test]
    fn day_lists_ranges_and_daily_parse() {
        assert_eq!(
            weekdays("mon,wed-fri"),
            Some([true, false, true, true, true, false, false])
        );
        assert_eq!(
            weekdays("sat-mon"),
            Some([true, false, false, false, false, true, true])
        );
        assert_eq!(weekdays("daily"), Some([true; 7]));
        assert_eq!(clock("24:00"), Some(1440));
        assert_eq!(clock("24:01"), None);
        assert_eq!(clock("7:00"), None);
    }

    #[test]
    fn a_malformed_schedule_is_refused_naming_it_and_the_entry() {
        for (windows, holidays, zone, named) in [
            (vec!["mon-fri 7-19"], vec![], "UTC", "mon-fri 7-19"),
            (vec!["someday 07:00-19:00"], vec![], "UTC", "someday"),
            (vec!["mon 24:00-06:00"], vec![], "UTC", "24:00-06:00"),
            (vec![], vec!["25.12.2026"], "UTC", "25.12.2026"),
            (vec![], vec![], "Mars/Olympus", "Mars/Olympus"),
        ] {
            let windows: Vec<String> = windows.into_iter().map(String::from).collect();
            let holidays: Vec<String> = holidays.into_iter().map(String::from).collect();
            let err = Schedule::parse("office", &windows, &holidays, zone).unwrap_err();
            assert!(err.contains("\"office\"") && err.contains(named), "{err}");
        }
        let many = vec!["daily 00:00-24:00".to_string(); MAX_ENTRIES + 1];
        assert!(Schedule::parse("office", &many, &[], "UTC").is_err());
    }

    #[test]
    fn a_watchlist_without_a_schedule_admits_at_all_hours_and_an_unknown_name_is_refused() {
        let schedules = [office("UTC")];
        let assigned = [("staff".to_string(), "office-hours".to_string())].into();
        let lists = WatchlistSchedules::new(&schedules, &assigned).unwrap();
        let sunday = at("2026-12-06T03:00", "UTC");
        assert!(!lists.admits("staff", sunday));
        assert!(lists.admits("visitors", sunday));
        let wrong = [("staff".to_string(), "nights".to_string())].into();
        let err = WatchlistSchedules::new(&schedules, &wrong).unwrap_err();
        assert!(err.contains("nights"), "{err}");
    }

    #[test]
    fn a_shared_set_this_door_cannot_read_admits_no_scheduled_watchlist() {
        let set = ScheduleSet {
            schedules: vec![ScheduleConfig {
                name: "office-hours".into(),
                windows: vec!["daily 00:00-24:00".into()],
                holidays: Vec::new(),
                time_zone: "Mars/Olympus".into(),
            }],
            watchlist_schedules: [("staff".to_string(), "office-hours".to_string())].into(),
        };
        assert!(set.compile().unwrap_err().contains("Mars/Olympus"));
        let closed = set.compile_closed();
        let noon = at("2026-12-02T12:00", "UTC");
        assert!(!closed.admits("staff", noon));
        assert!(closed.admits("visitors", noon), "an unscheduled watchlist");
        let readable = ScheduleSet {
            schedules: vec![ScheduleConfig {
                time_zone: "UTC".into(),
                ..set.schedules[0].clone()
            }],
            ..set
        };
        assert!(readable.compile_closed().admits("staff", noon));
    }
}
