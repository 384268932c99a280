//! A publish request across users' rooms and topics, decided without I/O: which events go to
//! which object (a user's room, a topic's root), and how their answers make the answer to the
//! request.
//!
//! Each object stores its events in one transaction, so an object's events are all stored or
//! none is; objects do not wait for each other. The answer lists every event's outcome in request
//! order: when some rooms stored and others failed it says which ([`PublishResponse::status`]
//! `207`), so a caller retries only what failed, and a retry without an idempotency key
//! duplicates nothing, except after an object that did not answer ([`RoomFailure::unanswered`]:
//! its events may have been stored, which the answer says).

use edgepush_protocol::ErrorCode;
use edgepush_protocol::frames::ErrorBody;
use edgepush_protocol::publish::{
    EventOutcome, FailedEvent, IdempotencyKey, NewEvent, PublishResponse, PublishedEvent, Target,
};

use crate::error::ServerError;
use crate::internal::{PublishAnswer, RoomFailure, RoomOutcome};

/// The events of one request that go to one user's room or one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomBatch<'a> {
    /// The user or topic.
    pub to: &'a Target,
    /// The events' indexes in the request, in order.
    pub indexes: Vec<usize>,
}

/// Groups events by user or topic, in the order each first appears; each group keeps its
/// events' order.
pub fn by_room(events: &[NewEvent]) -> Vec<RoomBatch<'_>> {
    let mut batches: Vec<RoomBatch<'_>> = Vec::new();
    for (index, event) in events.iter().enumerate() {
        match batches.iter_mut().find(|b| *b.to == event.to) {
            Some(batch) => batch.indexes.push(index),
            None => batches.push(RoomBatch {
                to: &event.to,
                indexes: vec![index],
            }),
        }
    }
    batches
}

/// The answer to the request from each batch's room answer (in the order of `batches`). When
/// every event failed in one way (one code, and every object answered, or none did), the first
/// failure is the answer; failures that differ are listed each (`207`), or a caller would act on
/// one and miss the others (retry what a conflict hid, or store twice what a failure without an
/// answer may have stored).
pub fn answer(
    events: &[NewEvent],
    batches: &[RoomBatch<'_>],
    answers: Vec<Result<PublishAnswer, RoomFailure>>,
) -> Result<PublishResponse, ServerError> {
    let mut outcomes: Vec<Option<EventOutcome>> = vec![None; events.len()];
    // How events failed: (code, the object did not answer).
    let mut failures: Vec<(ErrorCode, bool)> = Vec::new();
    let mut failed = |code, unanswered| {
        if !failures.contains(&(code, unanswered)) {
            failures.push((code, unanswered));
        }
    };
    for (batch, answer) in batches.iter().zip(answers) {
        let to = batch.to;
        let answer = answer.and_then(|answer| {
            if answer.outcomes.len() == batch.indexes.len() {
                Ok(answer)
            } else {
                // It answered: what it was asked may be done.
                Err(RoomFailure::unanswered(
                    ErrorCode::InternalError,
                    format!(
                        "the room answered for {} events, not {}",
                        answer.outcomes.len(),
                        batch.indexes.len()
                    ),
                ))
            }
        });
        match answer {
            Ok(answer) => {
                for (&index, outcome) in batch.indexes.iter().zip(answer.outcomes) {
                    let outcome = event_outcome(to, &events[index], outcome);
                    if let EventOutcome::Failed(_) = outcome {
                        failed(ErrorCode::IdempotencyConflict, false);
                    }
                    outcomes[index] = Some(outcome);
                }
            }
            Err(failure) => {
                failed(failure.code, failure.unanswered);
                let error = room_failed(to, &failure);
                for &index in &batch.indexes {
                    outcomes[index] = Some(EventOutcome::Failed(FailedEvent {
                        to: to.clone(),
                        error: error.clone(),
                    }));
                }
            }
        }
    }
    let events: Vec<EventOutcome> = outcomes.into_iter().flatten().collect();
    let all_failed = events.iter().all(|e| matches!(e, EventOutcome::Failed(_)));
    match events.first() {
        Some(EventOutcome::Failed(first)) if all_failed && failures.len() == 1 => {
            Err(ServerError::Refused {
                code: ErrorCode::parse(&first.error.code).unwrap_or(ErrorCode::InternalError),
                message: first.error.message.clone(),
                retry_after_ms: first.error.retry_after_ms,
            })
        }
        _ => Ok(PublishResponse { events }),
    }
}

fn event_outcome(to: &Target, event: &NewEvent, outcome: RoomOutcome) -> EventOutcome {
    let published = |id, sockets, relays, duplicate| {
        EventOutcome::Published(PublishedEvent {
            to: to.clone(),
            id,
            sockets,
            relays,
            duplicate,
        })
    };
    match outcome {
        RoomOutcome::Stored {
            id,
            sockets,
            relays,
        } => published(id, sockets, relays, false),
        RoomOutcome::Duplicate { id } => published(id, 0, None, true),
        RoomOutcome::Conflict { id } => {
            let key = match &event.idempotency_key {
                Some(IdempotencyKey::Event(key)) => format!("the idempotency_key {key:?}"),
                Some(IdempotencyKey::Request { key, index }) => {
                    format!("the Idempotency-Key {key:?} (event {index})")
                }
                None => "the idempotency key".to_owned(),
            };
            EventOutcome::Failed(FailedEvent {
                to: to.clone(),
                error: ErrorBody::new(
                    ErrorCode::IdempotencyConflict,
                    format!(
                        "{key} was already used for another event (id {id}) of {to}; \
                         this one was not stored: use a new key for a new event"
                    ),
                ),
            })
        }
    }
}

fn room_failed(to: &Target, failure: &RoomFailure) -> ErrorBody {
    let message = if failure.unanswered {
        format!(
            "storing to {to} failed before it answered: {}; its events in the request may have \
             been stored: retry them with the same idempotency keys (an event without one may \
             then be stored twice)",
            failure.message
        )
    } else {
        let advice = if failure.code.is_retryable() {
            ": retry them"
        } else {
            ""
        };
        format!(
            "storing to {to} failed: {}; none of its events in the request was stored{advice}",
            failure.message
        )
    };
    ErrorBody::new(failure.code, message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use edgepush_protocol::publish::parse_publish_request;

    fn events(body: &str) -> Vec<NewEvent> {
        parse_publish_request(body.as_bytes(), None).unwrap()
    }

    const THREE_USERS: &str = r#"{"events":[{"user":"a","name":"1"},{"user":"b","name":"2"},{"user":"a","name":"3"},{"user":"c","name":"4"}]}"#;

    fn stored(ids: &[u64]) -> Result<PublishAnswer, RoomFailure> {
        Ok(PublishAnswer {
            outcomes: ids
                .iter()
                .map(|&id| RoomOutcome::Stored {
                    id,
                    sockets: 1,
                    relays: None,
                })
                .collect(),
        })
    }

    fn summary(response: &PublishResponse) -> Vec<String> {
        response
            .events
            .iter()
            .map(|e| match e {
                EventOutcome::Published(p) => format!("{}:{}", p.to.as_str(), p.id),
                EventOutcome::Failed(f) => format!("{}:{}", f.to.as_str(), f.error.code),
            })
            .collect()
    }

    #[test]
    fn events_group_by_user_in_order() {
        let events = events(THREE_USERS);
        let batches = by_room(&events);
        let groups: Vec<_> = batches
            .iter()
            .map(|b| (b.to.as_str(), b.indexes.clone()))
            .collect();
        assert_eq!(groups, [("a", vec![0, 2]), ("b", vec![1]), ("c", vec![3])]);
    }

    #[test]
    fn users_and_topics_of_the_same_name_group_apart() {
        let events = events(
            r#"{"events":[{"user":"a","name":"1"},{"topic":"feed:a","name":"2"},{"user":"a","name":"3"},{"topic":"feed:a","name":"4"}]}"#,
        );
        let batches = by_room(&events);
        let groups: Vec<_> = batches
            .iter()
            .map(|b| (b.to.to_string(), b.indexes.clone()))
            .collect();
        assert_eq!(
            groups,
            [
                ("user \"a\"".to_owned(), vec![0, 2]),
                ("topic \"feed:a\"".to_owned(), vec![1, 3])
            ]
        );
    }

    #[test]
    fn answers_go_back_in_request_order() {
        let events = events(THREE_USERS);
        let batches = by_room(&events);
        let response = answer(
            &events,
            &batches,
            vec![stored(&[7, 8]), stored(&[1]), stored(&[4])],
        )
        .unwrap();
        assert_eq!(response.status(), 202);
        assert_eq!(summary(&response), ["a:7", "b:1", "a:8", "c:4"]);
    }

    #[test]
    fn a_failed_room_fails_only_its_events() {
        let events = events(THREE_USERS);
        let batches = by_room(&events);
        let failure = RoomFailure::new(ErrorCode::InternalError, "storage failed");
        let response = answer(
            &events,
            &batches,
            vec![stored(&[7, 8]), Err(failure), stored(&[4])],
        )
        .unwrap();
        assert_eq!(response.status(), 207);
        assert_eq!(
            summary(&response),
            ["a:7", "b:internal_error", "a:8", "c:4"]
        );
    }

    #[test]
    fn a_room_that_did_not_answer_may_have_stored_its_events() {
        let events = events(THREE_USERS);
        let batches = by_room(&events);
        let message = |failure: RoomFailure| {
            let response = answer(
                &events,
                &batches,
                vec![stored(&[7, 8]), Err(failure), stored(&[4])],
            );
            match &response.unwrap().events[1] {
                EventOutcome::Failed(failed) => failed.error.message.clone(),
                other => panic!("{other:?}"),
            }
        };
        let refused = message(RoomFailure::new(ErrorCode::InternalError, "disk full"));
        assert!(refused.contains("none of its events in the request was stored: retry them"));
        let lost = message(RoomFailure::unanswered(
            ErrorCode::InternalError,
            "Network connection lost",
        ));
        assert!(lost.contains("may have been stored"), "{lost}");
        assert!(lost.contains("the same idempotency keys"), "{lost}");
    }

    #[test]
    fn a_room_answering_for_the_wrong_number_of_events_failed() {
        let events = events(THREE_USERS);
        let batches = by_room(&events);
        let response = answer(
            &events,
            &batches,
            vec![stored(&[7]), stored(&[1]), stored(&[4])],
        )
        .unwrap();
        assert_eq!(
            summary(&response),
            ["a:internal_error", "b:1", "a:internal_error", "c:4"]
        );
        // It answered: its events may have been stored.
        let EventOutcome::Failed(failed) = &response.events[0] else {
            panic!("{response:?}")
        };
        assert!(
            failed.error.message.contains("may have been stored"),
            "{failed:?}"
        );
    }

    #[test]
    fn when_everything_failed_in_different_ways_each_failure_is_listed() {
        let events = events(
            r#"{"events":[{"user":"a","name":"1","idempotency_key":"used"},{"user":"b","name":"2"},{"user":"c","name":"3"}]}"#,
        );
        let batches = by_room(&events);
        let conflict = || {
            Ok(PublishAnswer {
                outcomes: vec![RoomOutcome::Conflict { id: 3 }],
            })
        };
        let refused = || Err(RoomFailure::new(ErrorCode::InternalError, "disk full"));
        let lost = || Err(RoomFailure::unanswered(ErrorCode::InternalError, "lost"));
        // A conflict and a failure: a caller reading only the 409 would retry nothing.
        let response = answer(&events, &batches, vec![conflict(), refused(), refused()]).unwrap();
        assert_eq!(response.status(), 207);
        assert_eq!(
            summary(&response),
            [
                "a:idempotency_conflict",
                "b:internal_error",
                "c:internal_error"
            ]
        );
        // Stored nowhere against may have been stored: each says which.
        let response = answer(&events, &batches, vec![refused(), lost(), refused()]).unwrap();
        assert_eq!(response.status(), 207);
        // One way for all: the first is the answer.
        let err = answer(&events, &batches, vec![refused(), refused(), refused()]).unwrap_err();
        assert_eq!(err.status(), 500);
    }

    #[test]
    fn when_everything_failed_the_first_failure_is_the_answer() {
        let events = events(r#"{"user":"a","name":"1","idempotency_key":"k"}"#);
        let batches = by_room(&events);
        let conflict = Ok(PublishAnswer {
            outcomes: vec![RoomOutcome::Conflict { id: 3 }],
        });
        let err = answer(&events, &batches, vec![conflict]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::IdempotencyConflict);
        assert_eq!(err.status(), 409);
        assert!(err.to_string().contains("\"k\""), "{err}");
        let failure = RoomFailure::new(ErrorCode::ServerMisconfigured, "HISTORY_MAX_EVENTS");
        let err = answer(&events, &batches, vec![Err(failure)]).unwrap_err();
        assert_eq!(err.code(), ErrorCode::ServerMisconfigured);
        assert!(err.to_string().contains("HISTORY_MAX_EVENTS"), "{err}");
    }

    #[test]
    fn duplicates_are_published_with_no_sockets() {
        let events = events(r#"{"user":"a","name":"1","idempotency_key":"k"}"#);
        let batches = by_room(&events);
        let dup = Ok(PublishAnswer {
            outcomes: vec![RoomOutcome::Duplicate { id: 3 }],
        });
        let response = answer(&events, &batches, vec![dup]).unwrap();
        assert_eq!(
            response.events,
            [EventOutcome::Published(PublishedEvent {
                to: events[0].to.clone(),
                id: 3,
                sockets: 0,
                relays: None,
                duplicate: true
            })]
        );
    }
}
