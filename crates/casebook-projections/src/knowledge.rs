//! The knowledge view (domain.md §8): recorded cases as a searchable knowledge base.
//!
//! # Records
//!
//! A record is made when a ticket closes (`TicketClosed`) after being resolved: its
//! category, summary, result and classification from the close; the cause and the
//! solution in force (the last `TicketDiagnosed`, with the solution replaced by a later
//! `TicketSolutionRevised`); and the time to resolve (the last
//! `TicketVerificationPassed` − opening, wall-clock seconds). Withdrawn tickets make
//! no record: nothing was solved. A reopened ticket's record is taken out until it
//! closes again; a record remembers whether its ticket was ever reopened
//! (`TicketCustomerRejected` or `TicketReopened`): the solution of a case that was
//! never reopened is a solution that **worked**.
//!
//! # Reading
//!
//! Every query takes the reader's roles and sees only records whose classification
//! they are cleared for ([`Classification::readable_by`]); the per-category summaries
//! are computed over those records only, so a count never reveals a record the
//! reader cannot read.
//!
//! # Search
//!
//! Text (category, summary, result, cause, solution) is split into tokens: runs of
//! letters and digits outside CJK scripts, lowercased (Unicode lowercase); CJK text
//! (Han, Hiragana, Katakana, Hangul) by single characters **and** overlapping
//! character bigrams. A query is tokenised the same way except that a CJK run of two
//! or more characters yields only its bigrams; a record matches when it has **every**
//! query token. So `证书` finds "LDAP 证书过期", `ldap` finds "LDAP", and `证书 renew`
//! needs both. An empty query matches nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;

use casebook_core::roles::Role;
use casebook_core::ticket::Classification;
use casebook_core::{TicketEvent, TicketId};
use casebook_store::{Envelope, EventStore};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::kpi::{catch_up_while, decode_event, load_state, save_state, Fold, KpiError};
use crate::period::{percentile, seconds};

/// The checkpoint name the knowledge view saves itself under.
pub const KNOWLEDGE_CHECKPOINT: &str = "knowledge-view";

const STATE_VERSION: u32 = 1;

/// How many causes and solutions a category summary lists.
pub const TOP: usize = 5;

/// One recorded case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnowledgeRecord {
    /// The ticket.
    pub ticket: TicketId,
    /// Knowledge category.
    pub category: String,
    /// Summary.
    pub summary: String,
    /// Result.
    pub result: String,
    /// Who may read it.
    pub classification: Classification,
    /// The cause, if diagnosed.
    pub cause: Option<String>,
    /// The solution in force, if diagnosed.
    pub solution: Option<String>,
    /// Last resolution − opening, in seconds, if it was resolved.
    pub time_to_resolve_seconds: Option<u32>,
    /// Whether the ticket was ever reopened.
    pub reopened: bool,
    /// When it closed.
    pub closed_at: DateTime<Utc>,
}

/// What the view tracks per ticket until (and after) it closes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Working {
    opened_at: Option<DateTime<Utc>>,
    cause: Option<String>,
    solution: Option<String>,
    resolved_at: Option<DateTime<Utc>>,
    reopened: bool,
    withdrawn: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct KnowledgeState {
    position: u64,
    working: BTreeMap<TicketId, Working>,
    records: BTreeMap<TicketId, KnowledgeRecord>,
}

/// A common cause or solution and how many records share it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// The text (as first written; compared trimmed and lowercased).
    pub text: String,
    /// How many records.
    pub count: u64,
}

/// One category's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategorySummary {
    /// The category.
    pub category: String,
    /// Records the reader may see.
    pub count: u64,
    /// The most frequent causes (at most [`TOP`], most frequent first, ties by text).
    pub common_causes: Vec<Tally>,
    /// The most frequent solutions of records never reopened (at most [`TOP`]).
    pub solutions_that_worked: Vec<Tally>,
    /// Nearest-rank median time to resolve, seconds.
    pub median_time_to_resolve_seconds: Option<u32>,
}

/// The knowledge view: see the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct KnowledgeView {
    state: KnowledgeState,
    /// token → records having it; derived, rebuilt on restore.
    index: HashMap<String, BTreeSet<TicketId>>,
}

impl PartialEq for KnowledgeView {
    /// Equal when the folded states are (the index is derived).
    fn eq(&self, other: &Self) -> bool {
        self.state == other.state
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0x20000..=0x2FA1F) // CJK extensions B and later
}

/// Tokens of `text` for the index (`for_query == false`) or a query.
fn tokens(text: &str, for_query: bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut word = String::new();
    let mut cjk: Vec<char> = Vec::new();
    let flush_cjk = |cjk: &mut Vec<char>, out: &mut BTreeSet<String>| {
        if !for_query || cjk.len() == 1 {
            out.extend(cjk.iter().map(ToString::to_string));
        }
        out.extend(cjk.windows(2).map(|w| w.iter().collect::<String>()));
        cjk.clear();
    };
    for c in text.chars() {
        if is_cjk(c) {
            if !word.is_empty() {
                out.insert(std::mem::take(&mut word));
            }
            cjk.push(c);
        } else if c.is_alphanumeric() {
            if !cjk.is_empty() {
                flush_cjk(&mut cjk, &mut out);
            }
            word.extend(c.to_lowercase());
        } else {
            if !word.is_empty() {
                out.insert(std::mem::take(&mut word));
            }
            if !cjk.is_empty() {
                flush_cjk(&mut cjk, &mut out);
            }
        }
    }
    if !word.is_empty() {
        out.insert(word);
    }
    if !cjk.is_empty() {
        flush_cjk(&mut cjk, &mut out);
    }
    out
}

fn record_tokens(r: &KnowledgeRecord) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for text in [
        Some(&r.category),
        Some(&r.summary),
        Some(&r.result),
        r.cause.as_ref(),
        r.solution.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        all.extend(tokens(text, false));
    }
    all
}

fn top(texts: Vec<&str>) -> Vec<Tally> {
    let mut counts: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for t in texts {
        let key = t.trim().to_lowercase();
        counts
            .entry(key)
            .or_insert_with(|| (t.trim().to_owned(), 0))
            .1 += 1;
    }
    let mut tallies: Vec<Tally> = counts
        .into_values()
        .map(|(text, count)| Tally { text, count })
        .collect();
    tallies.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.text.cmp(&b.text)));
    tallies.truncate(TOP);
    tallies
}

impl Fold for KnowledgeView {
    fn position(&self) -> u64 {
        self.state.position
    }

    fn apply(&mut self, envelope: &Envelope) -> Result<(), KpiError> {
        KnowledgeView::apply(self, envelope)
    }
}

impl KnowledgeView {
    /// An empty view.
    pub fn new() -> KnowledgeView {
        KnowledgeView::default()
    }

    /// Builds the view from the whole log.
    ///
    /// # Errors
    ///
    /// [`KpiError`] on a storage or decode failure.
    pub fn build<S: EventStore + ?Sized>(store: &S) -> Result<KnowledgeView, KpiError> {
        let mut view = KnowledgeView::new();
        view.catch_up(store)?;
        Ok(view)
    }

    /// The view as of `instant` (every event recorded at or before it).
    ///
    /// # Errors
    ///
    /// As [`KnowledgeView::build`].
    pub fn as_of<S: EventStore + ?Sized>(
        store: &S,
        instant: DateTime<Utc>,
    ) -> Result<KnowledgeView, KpiError> {
        let mut view = KnowledgeView::new();
        catch_up_while(&mut view, store, |e| e.recorded_at <= instant)?;
        Ok(view)
    }

    /// The view up to and including global position `position`.
    ///
    /// # Errors
    ///
    /// As [`KnowledgeView::build`].
    pub fn at_position<S: EventStore + ?Sized>(
        store: &S,
        position: u64,
    ) -> Result<KnowledgeView, KpiError> {
        let mut view = KnowledgeView::new();
        view.catch_up_to(store, position)?;
        Ok(view)
    }

    /// The view from its checkpoint (or from zero), caught up to the head.
    ///
    /// # Errors
    ///
    /// As [`KnowledgeView::build`].
    pub fn resume<S: EventStore + ?Sized>(store: &S) -> Result<KnowledgeView, KpiError> {
        let mut view = KnowledgeView::from_checkpoint(store)?.unwrap_or_default();
        view.catch_up(store)?;
        Ok(view)
    }

    /// The view as saved in checkpoint [`KNOWLEDGE_CHECKPOINT`], not caught up.
    ///
    /// # Errors
    ///
    /// [`KpiError::Store`] if the checkpoint cannot be read.
    pub fn from_checkpoint<S: EventStore + ?Sized>(
        store: &S,
    ) -> Result<Option<KnowledgeView>, KpiError> {
        let Some(state) =
            load_state::<KnowledgeState, S>(store, KNOWLEDGE_CHECKPOINT, STATE_VERSION, |s| {
                s.position
            })?
        else {
            return Ok(None);
        };
        let mut view = KnowledgeView {
            state,
            index: HashMap::new(),
        };
        let records: Vec<KnowledgeRecord> = view.state.records.values().cloned().collect();
        for r in &records {
            view.index_record(r);
        }
        Ok(Some(view))
    }

    /// Saves the view as checkpoint [`KNOWLEDGE_CHECKPOINT`].
    ///
    /// # Errors
    ///
    /// [`KpiError::Store`] if encoding or saving fails.
    pub fn save_checkpoint<S: EventStore + ?Sized>(&self, store: &S) -> Result<(), KpiError> {
        save_state(
            store,
            KNOWLEDGE_CHECKPOINT,
            STATE_VERSION,
            self.state.position,
            &self.state,
        )
    }

    /// Folds every event after the view's position.
    ///
    /// # Errors
    ///
    /// As [`KnowledgeView::build`].
    pub fn catch_up<S: EventStore + ?Sized>(&mut self, store: &S) -> Result<usize, KpiError> {
        catch_up_while(self, store, |_| true)
    }

    /// Folds events after the view's position up to and including `position`.
    ///
    /// # Errors
    ///
    /// As [`KnowledgeView::build`].
    pub fn catch_up_to<S: EventStore + ?Sized>(
        &mut self,
        store: &S,
        position: u64,
    ) -> Result<usize, KpiError> {
        catch_up_while(self, store, |e| e.global_position <= position)
    }

    /// The global position of the last event folded.
    pub fn position(&self) -> u64 {
        self.state.position
    }

    fn index_record(&mut self, r: &KnowledgeRecord) {
        for t in record_tokens(r) {
            self.index.entry(t).or_default().insert(r.ticket);
        }
    }

    fn unindex_record(&mut self, r: &KnowledgeRecord) {
        for t in record_tokens(r) {
            if let Some(set) = self.index.get_mut(&t) {
                set.remove(&r.ticket);
                if set.is_empty() {
                    self.index.remove(&t);
                }
            }
        }
    }

    /// Folds one envelope (skipped when at or before the view's position).
    ///
    /// # Errors
    ///
    /// [`KpiError::Decode`] if a ticket event does not decode; the view is unchanged.
    pub fn apply(&mut self, envelope: &Envelope) -> Result<(), KpiError> {
        if envelope.global_position <= self.state.position {
            return Ok(());
        }
        if envelope.stream_kind() == "ticket" {
            let event: TicketEvent = decode_event(envelope)?;
            let id = match &event {
                TicketEvent::Opened { ticket, .. } => Some(*ticket),
                _ => TicketId::from_str(envelope.stream_id.local_id()).ok(),
            };
            if let Some(id) = id {
                self.apply_ticket(id, &event, envelope.recorded_at);
            }
        }
        self.state.position = envelope.global_position;
        Ok(())
    }

    fn apply_ticket(&mut self, id: TicketId, event: &TicketEvent, at: DateTime<Utc>) {
        let w = self.state.working.entry(id).or_default();
        match event {
            TicketEvent::Opened { .. } => {
                w.opened_at.get_or_insert(at);
            }
            TicketEvent::Diagnosed(d) => {
                w.cause = Some(d.cause.clone());
                w.solution = Some(d.solution.clone());
            }
            TicketEvent::SolutionRevised { solution, .. } => {
                w.solution = Some(solution.clone());
            }
            TicketEvent::VerificationPassed { .. } => w.resolved_at = Some(at),
            TicketEvent::CustomerRejected { .. } => w.reopened = true,
            TicketEvent::Withdrawn { .. } => w.withdrawn = true,
            TicketEvent::Reopened { .. } => {
                w.reopened = true;
                w.withdrawn = false;
                if let Some(old) = self.state.records.remove(&id) {
                    self.unindex_record(&old);
                }
            }
            TicketEvent::Closed {
                category,
                summary,
                result,
                classification,
            } => {
                if w.withdrawn {
                    return;
                }
                let record = KnowledgeRecord {
                    ticket: id,
                    category: category.clone(),
                    summary: summary.clone(),
                    result: result.clone(),
                    classification: *classification,
                    cause: w.cause.clone(),
                    solution: w.solution.clone(),
                    time_to_resolve_seconds: w
                        .resolved_at
                        .zip(w.opened_at)
                        .map(|(r, o)| seconds(r - o)),
                    reopened: w.reopened,
                    closed_at: at,
                };
                if let Some(old) = self.state.records.insert(id, record.clone()) {
                    self.unindex_record(&old);
                }
                self.index_record(&record);
            }
            _ => {}
        }
    }

    /// Every record the reader may see, by ticket id.
    pub fn records<'a>(
        &'a self,
        roles: &'a BTreeSet<Role>,
    ) -> impl Iterator<Item = &'a KnowledgeRecord> + 'a {
        self.state
            .records
            .values()
            .filter(move |r| r.classification.readable_by(roles))
    }

    /// One category's summary over the records the reader may see (`None` when the
    /// reader sees none of that category).
    pub fn category(&self, category: &str, roles: &BTreeSet<Role>) -> Option<CategorySummary> {
        self.categories(roles)
            .into_iter()
            .find(|c| c.category == category)
    }

    /// Every category's summary over the records the reader may see, by category.
    pub fn categories(&self, roles: &BTreeSet<Role>) -> Vec<CategorySummary> {
        let mut by: BTreeMap<&str, Vec<&KnowledgeRecord>> = BTreeMap::new();
        for r in self.records(roles) {
            by.entry(r.category.as_str()).or_default().push(r);
        }
        by.into_iter()
            .map(|(category, records)| {
                let mut times: Vec<u32> = records
                    .iter()
                    .filter_map(|r| r.time_to_resolve_seconds)
                    .collect();
                times.sort_unstable();
                CategorySummary {
                    category: category.to_owned(),
                    count: records.len() as u64,
                    common_causes: top(records.iter().filter_map(|r| r.cause.as_deref()).collect()),
                    solutions_that_worked: top(records
                        .iter()
                        .filter(|r| !r.reopened)
                        .filter_map(|r| r.solution.as_deref())
                        .collect()),
                    median_time_to_resolve_seconds: percentile(&times, 50),
                }
            })
            .collect()
    }

    /// The records the reader may see that contain every token of `query` (see the
    /// [module docs](self)), most recently closed first, at most `limit`.
    pub fn search(
        &self,
        query: &str,
        roles: &BTreeSet<Role>,
        limit: usize,
    ) -> Vec<&KnowledgeRecord> {
        let wanted = tokens(query, true);
        let mut sets: Vec<&BTreeSet<TicketId>> = Vec::with_capacity(wanted.len());
        for t in &wanted {
            match self.index.get(t) {
                Some(set) => sets.push(set),
                None => return Vec::new(),
            }
        }
        // Intersect starting from the rarest token.
        sets.sort_by_key(|s| s.len());
        let Some((first, rest)) = sets.split_first() else {
            return Vec::new();
        };
        let mut hits: Vec<&KnowledgeRecord> = first
            .iter()
            .filter(|id| rest.iter().all(|s| s.contains(id)))
            .filter_map(|id| self.state.records.get(id))
            .filter(|r| r.classification.readable_by(roles))
            .collect();
        hits.sort_by(|a, b| b.closed_at.cmp(&a.closed_at).then(a.ticket.cmp(&b.ticket)));
        hits.truncate(limit);
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_mixed_text() {
        let t = tokens("LDAP 证书过期, renew-Cert", false);
        for want in ["ldap", "renew", "cert", "证", "书", "证书", "书过", "过期"] {
            assert!(t.contains(want), "{want} in {t:?}");
        }
        let q = tokens("证书过期", true);
        assert_eq!(
            q,
            ["证书", "书过", "过期"]
                .into_iter()
                .map(String::from)
                .collect()
        );
        assert_eq!(tokens("证", true), ["证".to_owned()].into_iter().collect());
        assert!(tokens("  ,; ", true).is_empty());
        assert!(tokens("ÉCOLE", true).contains("école"));
    }
}
