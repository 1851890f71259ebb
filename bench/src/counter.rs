//! The aggregate the append case drives through both cqrs-es stores: a counter that records
//! one event per command, so that (b) postgres-es and (c) Anslut's store do the same domain
//! work and differ only in how they persist it. Its event is about as large as a typical
//! case event (a milestone with a reason).

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

/// How many events a counter has recorded.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counter {
    count: u64,
}

/// Count one more, for a reason.
#[derive(Debug, Clone)]
pub struct Increment {
    pub reason: String,
}

/// The counter moved on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incremented {
    pub count: u64,
    pub reason: String,
}

impl DomainEvent for Incremented {
    fn event_type(&self) -> String {
        "Incremented".into()
    }

    fn event_version(&self) -> String {
        "1".into()
    }
}

/// A counter never refuses; the type exists because cqrs-es asks for one.
#[derive(Debug, thiserror::Error)]
#[error("the counter refused")]
pub struct Refused;

impl Aggregate for Counter {
    const TYPE: &'static str = "bench_counter";
    type Command = Increment;
    type Event = Incremented;
    type Error = Refused;
    type Services = ();

    async fn handle(
        &mut self,
        command: Increment,
        (): &(),
        sink: &EventSink<Self>,
    ) -> Result<(), Refused> {
        let event = Incremented {
            count: self.count + 1,
            reason: command.reason,
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Incremented) {
        self.count = event.count;
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    #[test]
    fn an_increment_records_the_next_count() {
        TestFramework::<Counter>::with(())
            .given(vec![Incremented {
                count: 1,
                reason: "first".into(),
            }])
            .when(Increment {
                reason: "second".into(),
            })
            .then_expect_events(vec![Incremented {
                count: 2,
                reason: "second".into(),
            }]);
    }
}
