//! The tests that drive more than one module: the scripted mock API and its fixtures, the
//! controller scenarios, and the tests that run real tools (Helm, Prometheus, schema
//! validators). Unit tests live beside what they test.

mod api_fault_tests;
mod bad_input_tests;
mod chart_tests;
pub mod compare_tests;
pub mod controller_tests;
mod crd_tests;
mod dashboard_tests;
mod doctor_tests;
mod fallback_retry_tests;
mod first_response_tests;
pub mod fixtures;
mod layout_tests;
mod leader_tests;
mod metrics_tests;
pub mod mock_api;
mod node_readiness_tests;
mod pod_security_tests;
mod property_tests;
mod refusal_tests;
mod runtime_handler_tests;
pub mod schema_validation_tests;
mod spill_tests;
