//! The command handlers of a bus: one per command type, checked when the
//! bus is built (no two for one command, an event store present, no two
//! aggregate types under one name).

use std::any::TypeId;
use std::collections::HashMap;

use super::builder::ordered;
use crate::bus::context::Dependencies;
use crate::bus::error::BusBuildError;
use crate::bus::extract::DependencyKey;
use crate::command::CommandHandlerRegistration;

/// The command handlers of a bus being built: command type -> its one
/// handler, already checked.
#[derive(Default, Debug)]
pub struct CommandRoutes {
    by_type: HashMap<TypeId, CommandHandlerRegistration>,
}

impl CommandRoutes {
    /// The routes of `registrations`, refused if two different handlers
    /// take one command, if the bus lacks the `repository` they load and
    /// save with, or if two aggregate types share a name. The same handler
    /// given twice is kept once.
    pub(crate) fn checked(
        registrations: Vec<CommandHandlerRegistration>,
        dependencies: &Dependencies,
        repository: DependencyKey,
    ) -> Result<Self, BusBuildError> {
        let mut by_type: HashMap<TypeId, CommandHandlerRegistration> = HashMap::new();
        for registration in registrations {
            let command_type = (registration.command_type)();
            if let Some(earlier) = by_type.get(&command_type) {
                if (earlier.handler_type)() == (registration.handler_type)() {
                    continue;
                }
                let (first, second) =
                    ordered((earlier.handler_path)(), (registration.handler_path)());
                return Err(BusBuildError::DuplicateCommandHandler {
                    command: registration.command_name,
                    first,
                    second,
                });
            }
            by_type.insert(command_type, registration);
        }
        if !by_type.is_empty() && !dependencies.contains((repository.type_id)()) {
            let mut handlers: Vec<_> = by_type.values().map(|r| r.name).collect();
            handlers.sort_unstable();
            return Err(BusBuildError::NoEventStore {
                handlers,
                repository: (repository.type_name)(),
            });
        }
        crate::registry::check_aggregates(
            by_type
                .values()
                .map(|r| (r.aggregate_name, (r.aggregate_type)(), (r.aggregate_path)())),
        )?;
        Ok(Self { by_type })
    }

    pub(crate) fn get(&self, command_type: TypeId) -> Option<&CommandHandlerRegistration> {
        self.by_type.get(&command_type)
    }
}
