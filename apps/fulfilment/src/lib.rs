//! The fulfilment component: a thin export of `order-system:fulfilment/fulfil`
//! (`wit/fulfilment.wit`) over `order_model::fulfilment::fulfil`. It has no trigger; it runs
//! composed into a caller (the receiver, the fulfiller) and reaches Redis and variables through
//! the caller's configuration.

// The WIT bindings' export glue needs unsafe code.
#![allow(unsafe_code)]

use order_model::FulfilOutcome;
use order_model::fulfilment::{self, FulfilError};

wit_bindgen::generate!({ world: "fulfilment", path: "wit" });

use exports::order_system::fulfilment::fulfil::{Error, Guest, Order, Outcome};

struct Fulfilment;

impl Guest for Fulfilment {
    fn fulfil(order: Order) -> Result<Outcome, Error> {
        match fulfilment::fulfil(&order.id, order_spin::connect, order_spin::now_ms()) {
            Ok(FulfilOutcome::Fulfilled) => Ok(Outcome::Fulfilled),
            Ok(FulfilOutcome::AlreadyFulfilled) => Ok(Outcome::AlreadyFulfilled),
            Ok(FulfilOutcome::UnknownOrder) => Ok(Outcome::UnknownOrder),
            Err(FulfilError::InvalidId(why)) => Err(Error::InvalidId(why)),
            Err(FulfilError::StoreUnavailable(why)) => Err(Error::StoreUnavailable(why)),
            Err(FulfilError::Internal(why)) => Err(Error::Internal(why)),
        }
    }
}

export!(Fulfilment);
