//! Why a comparison could not run: refused up front (one sentence), cancelled, or the API failed.

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{0}")]
    Refused(String),
    #[error("the comparison was cancelled; its pods were removed")]
    Cancelled,
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
}
