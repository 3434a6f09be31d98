//! Evaluation metrics: predicted classes, accuracy, confusion matrix, and ROC curves with their
//! AUC computed the way scikit-learn computes them, and statistics over seeds (mean, sample sd,
//! t-interval).

mod accuracy;
mod roc;
mod stats;

pub use accuracy::{accuracy, confusion_matrix, error_count, per_class_errors, predictions};
pub use roc::{auc, class_roc_curve, macro_average, one_vs_rest_auc, roc_curve, RocCurve};
pub use stats::{t_quantile, Stats};
