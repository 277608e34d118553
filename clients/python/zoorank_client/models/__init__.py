""" Contains all the data models used in inputs/outputs """

from .corrupt_image import CorruptImage
from .data_root import DataRoot
from .data_root_list import DataRootList
from .dataset_summary import DatasetSummary
from .dataset_summary_class_counts import DatasetSummaryClassCounts
from .ensemble_options import EnsembleOptions
from .ensemble_options_mode import EnsembleOptionsMode
from .ensemble_options_params import EnsembleOptionsParams
from .ensemble_options_params_additional_property import EnsembleOptionsParamsAdditionalProperty
from .field_issue import FieldIssue
from .inspect_request import InspectRequest
from .job_done_event import JobDoneEvent
from .job_done_event_status import JobDoneEventStatus
from .job_error import JobError
from .job_list import JobList
from .job_progress import JobProgress
from .job_progress_event import JobProgressEvent
from .job_progress_event_stage import JobProgressEventStage
from .job_progress_stages import JobProgressStages
from .job_status import JobStatus
from .job_status_event import JobStatusEvent
from .job_status_event_status import JobStatusEventStatus
from .job_view import JobView
from .job_view_stage import JobViewStage
from .liveness import Liveness
from .model_info import ModelInfo
from .model_info_meta import ModelInfoMeta
from .model_list import ModelList
from .model_progress import ModelProgress
from .model_progress_status import ModelProgressStatus
from .preprocessing_info import PreprocessingInfo
from .problem import Problem
from .ranking import Ranking
from .ranking_budget import RankingBudget
from .ranking_budget_rounds_item import RankingBudgetRoundsItem
from .ranking_budget_stopped import RankingBudgetStopped
from .ranking_dataset import RankingDataset
from .ranking_dataset_class_counts import RankingDatasetClassCounts
from .ranking_dataset_sampling import RankingDatasetSampling
from .ranking_ensembles import RankingEnsembles
from .ranking_ensembles_mode import RankingEnsemblesMode
from .ranking_ensembles_recommendation import RankingEnsemblesRecommendation
from .ranking_ensembles_recommendation_candidates_item import RankingEnsemblesRecommendationCandidatesItem
from .ranking_ensembles_recommendation_method import RankingEnsemblesRecommendationMethod
from .ranking_ensembles_results_item import RankingEnsemblesResultsItem
from .ranking_ensembles_results_item_error_type_0 import RankingEnsemblesResultsItemErrorType0
from .ranking_ensembles_results_item_ineligible import RankingEnsemblesResultsItemIneligible
from .ranking_ensembles_results_item_ineligible_additional_property import RankingEnsemblesResultsItemIneligibleAdditionalProperty
from .ranking_ensembles_results_item_info import RankingEnsemblesResultsItemInfo
from .ranking_ensembles_results_item_members import RankingEnsemblesResultsItemMembers
from .ranking_ensembles_results_item_members_additional_property import RankingEnsemblesResultsItemMembersAdditionalProperty
from .ranking_ensembles_results_item_params import RankingEnsemblesResultsItemParams
from .ranking_ensembles_results_item_steps_item import RankingEnsemblesResultsItemStepsItem
from .ranking_ensembles_results_item_teams_item import RankingEnsemblesResultsItemTeamsItem
from .ranking_ensembles_results_item_teams_item_terms import RankingEnsemblesResultsItemTeamsItemTerms
from .ranking_models_item import RankingModelsItem
from .ranking_models_item_dropped import RankingModelsItemDropped
from .ranking_models_item_dropped_ranks import RankingModelsItemDroppedRanks
from .ranking_models_item_error_type_0 import RankingModelsItemErrorType0
from .ranking_models_item_errors import RankingModelsItemErrors
from .ranking_models_item_errors_additional_property import RankingModelsItemErrorsAdditionalProperty
from .ranking_models_item_info import RankingModelsItemInfo
from .ranking_models_item_info_additional_property import RankingModelsItemInfoAdditionalProperty
from .ranking_models_item_ranks import RankingModelsItemRanks
from .ranking_models_item_scores import RankingModelsItemScores
from .ranking_provenance import RankingProvenance
from .ranking_recommendation import RankingRecommendation
from .ranking_recommendation_candidates_item import RankingRecommendationCandidatesItem
from .ranking_recommendation_method import RankingRecommendationMethod
from .ranking_request import RankingRequest
from .ranking_request_params_type_0 import RankingRequestParamsType0
from .ranking_scorers_item import RankingScorersItem
from .ranking_scorers_item_kind import RankingScorersItemKind
from .ranking_scorers_item_params import RankingScorersItemParams
from .readiness import Readiness
from .readiness_queues import ReadinessQueues
from .sampling import Sampling
from .scorer_info import ScorerInfo
from .scorer_info_constraints import ScorerInfoConstraints
from .scorer_info_params import ScorerInfoParams
from .scorer_kind import ScorerKind
from .scorer_list import ScorerList
from .stage_progress import StageProgress
from .uploaded_dataset import UploadedDataset
from .weights_info import WeightsInfo
from .weights_kind import WeightsKind

__all__ = (
    "CorruptImage",
    "DataRoot",
    "DataRootList",
    "DatasetSummary",
    "DatasetSummaryClassCounts",
    "EnsembleOptions",
    "EnsembleOptionsMode",
    "EnsembleOptionsParams",
    "EnsembleOptionsParamsAdditionalProperty",
    "FieldIssue",
    "InspectRequest",
    "JobDoneEvent",
    "JobDoneEventStatus",
    "JobError",
    "JobList",
    "JobProgress",
    "JobProgressEvent",
    "JobProgressEventStage",
    "JobProgressStages",
    "JobStatus",
    "JobStatusEvent",
    "JobStatusEventStatus",
    "JobView",
    "JobViewStage",
    "Liveness",
    "ModelInfo",
    "ModelInfoMeta",
    "ModelList",
    "ModelProgress",
    "ModelProgressStatus",
    "PreprocessingInfo",
    "Problem",
    "Ranking",
    "RankingBudget",
    "RankingBudgetRoundsItem",
    "RankingBudgetStopped",
    "RankingDataset",
    "RankingDatasetClassCounts",
    "RankingDatasetSampling",
    "RankingEnsembles",
    "RankingEnsemblesMode",
    "RankingEnsemblesRecommendation",
    "RankingEnsemblesRecommendationCandidatesItem",
    "RankingEnsemblesRecommendationMethod",
    "RankingEnsemblesResultsItem",
    "RankingEnsemblesResultsItemErrorType0",
    "RankingEnsemblesResultsItemIneligible",
    "RankingEnsemblesResultsItemIneligibleAdditionalProperty",
    "RankingEnsemblesResultsItemInfo",
    "RankingEnsemblesResultsItemMembers",
    "RankingEnsemblesResultsItemMembersAdditionalProperty",
    "RankingEnsemblesResultsItemParams",
    "RankingEnsemblesResultsItemStepsItem",
    "RankingEnsemblesResultsItemTeamsItem",
    "RankingEnsemblesResultsItemTeamsItemTerms",
    "RankingModelsItem",
    "RankingModelsItemDropped",
    "RankingModelsItemDroppedRanks",
    "RankingModelsItemErrors",
    "RankingModelsItemErrorsAdditionalProperty",
    "RankingModelsItemErrorType0",
    "RankingModelsItemInfo",
    "RankingModelsItemInfoAdditionalProperty",
    "RankingModelsItemRanks",
    "RankingModelsItemScores",
    "RankingProvenance",
    "RankingRecommendation",
    "RankingRecommendationCandidatesItem",
    "RankingRecommendationMethod",
    "RankingRequest",
    "RankingRequestParamsType0",
    "RankingScorersItem",
    "RankingScorersItemKind",
    "RankingScorersItemParams",
    "Readiness",
    "ReadinessQueues",
    "Sampling",
    "ScorerInfo",
    "ScorerInfoConstraints",
    "ScorerInfoParams",
    "ScorerKind",
    "ScorerList",
    "StageProgress",
    "UploadedDataset",
    "WeightsInfo",
    "WeightsKind",
)
