from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QAHit(_message.Message):
    __slots__ = ("id", "question", "answer", "score", "source", "offset", "passage_id", "metadata_json", "strength", "created_at", "recalled_at", "retention", "links", "merged_from", "versions")
    ID_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    PASSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    RECALLED_AT_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    MERGED_FROM_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    id: int
    question: str
    answer: str
    score: float
    source: str
    offset: int
    passage_id: int
    metadata_json: str
    strength: float
    created_at: float
    recalled_at: float
    retention: float
    links: _containers.RepeatedScalarFieldContainer[int]
    merged_from: _containers.RepeatedScalarFieldContainer[int]
    versions: int
    def __init__(self, id: _Optional[int] = ..., question: _Optional[str] = ..., answer: _Optional[str] = ..., score: _Optional[float] = ..., source: _Optional[str] = ..., offset: _Optional[int] = ..., passage_id: _Optional[int] = ..., metadata_json: _Optional[str] = ..., strength: _Optional[float] = ..., created_at: _Optional[float] = ..., recalled_at: _Optional[float] = ..., retention: _Optional[float] = ..., links: _Optional[_Iterable[int]] = ..., merged_from: _Optional[_Iterable[int]] = ..., versions: _Optional[int] = ...) -> None: ...

class QAPassage(_message.Message):
    __slots__ = ("id", "text", "score", "source", "metadata_json", "links")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    id: int
    text: str
    score: float
    source: str
    metadata_json: str
    links: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, id: _Optional[int] = ..., text: _Optional[str] = ..., score: _Optional[float] = ..., source: _Optional[str] = ..., metadata_json: _Optional[str] = ..., links: _Optional[_Iterable[int]] = ...) -> None: ...

class QAAskResponse(_message.Message):
    __slots__ = ("query", "answer", "answer_id", "hits", "passages", "confidence", "margin", "chain_json")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    ANSWER_ID_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    MARGIN_FIELD_NUMBER: _ClassVar[int]
    CHAIN_JSON_FIELD_NUMBER: _ClassVar[int]
    query: str
    answer: str
    answer_id: int
    hits: _containers.RepeatedCompositeFieldContainer[QAHit]
    passages: _containers.RepeatedCompositeFieldContainer[QAPassage]
    confidence: float
    margin: float
    chain_json: str
    def __init__(self, query: _Optional[str] = ..., answer: _Optional[str] = ..., answer_id: _Optional[int] = ..., hits: _Optional[_Iterable[_Union[QAHit, _Mapping]]] = ..., passages: _Optional[_Iterable[_Union[QAPassage, _Mapping]]] = ..., confidence: _Optional[float] = ..., margin: _Optional[float] = ..., chain_json: _Optional[str] = ...) -> None: ...

class QAInfo(_message.Message):
    __slots__ = ("name", "embedder", "dim", "answer_threshold", "answer_margin", "time_unit")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMBEDDER_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    ANSWER_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ANSWER_MARGIN_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIT_FIELD_NUMBER: _ClassVar[int]
    name: str
    embedder: str
    dim: int
    answer_threshold: float
    answer_margin: float
    time_unit: float
    def __init__(self, name: _Optional[str] = ..., embedder: _Optional[str] = ..., dim: _Optional[int] = ..., answer_threshold: _Optional[float] = ..., answer_margin: _Optional[float] = ..., time_unit: _Optional[float] = ...) -> None: ...

class QAIdsResponse(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, ids: _Optional[_Iterable[int]] = ...) -> None: ...

class QAHitsResponse(_message.Message):
    __slots__ = ("hits",)
    HITS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[QAHit]
    def __init__(self, hits: _Optional[_Iterable[_Union[QAHit, _Mapping]]] = ...) -> None: ...

class QAPassagesResponse(_message.Message):
    __slots__ = ("passages",)
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    passages: _containers.RepeatedCompositeFieldContainer[QAPassage]
    def __init__(self, passages: _Optional[_Iterable[_Union[QAPassage, _Mapping]]] = ...) -> None: ...

class QATextResponse(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class QAJsonResponse(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: str
    def __init__(self, json: _Optional[str] = ...) -> None: ...

class QANumberResponse(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: float
    def __init__(self, value: _Optional[float] = ...) -> None: ...

class QACountResponse(_message.Message):
    __slots__ = ("pairs", "passages")
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    pairs: int
    passages: int
    def __init__(self, pairs: _Optional[int] = ..., passages: _Optional[int] = ...) -> None: ...

class QANamesResponse(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class QARelatedResponse(_message.Message):
    __slots__ = ("pairs", "passages")
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    pairs: _containers.RepeatedCompositeFieldContainer[QAHit]
    passages: _containers.RepeatedCompositeFieldContainer[QAPassage]
    def __init__(self, pairs: _Optional[_Iterable[_Union[QAHit, _Mapping]]] = ..., passages: _Optional[_Iterable[_Union[QAPassage, _Mapping]]] = ...) -> None: ...

class QAMergeResponse(_message.Message):
    __slots__ = ("kept", "merged")
    KEPT_FIELD_NUMBER: _ClassVar[int]
    MERGED_FIELD_NUMBER: _ClassVar[int]
    kept: int
    merged: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, kept: _Optional[int] = ..., merged: _Optional[_Iterable[int]] = ...) -> None: ...

class QAMergeDuplicatesResponse(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[QAMergeResponse]
    def __init__(self, groups: _Optional[_Iterable[_Union[QAMergeResponse, _Mapping]]] = ...) -> None: ...

class QAEmpty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QAOpenRequest(_message.Message):
    __slots__ = ("memory", "embedder")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    EMBEDDER_FIELD_NUMBER: _ClassVar[int]
    memory: str
    embedder: str
    def __init__(self, memory: _Optional[str] = ..., embedder: _Optional[str] = ...) -> None: ...

class QAAddRequest(_message.Message):
    __slots__ = ("memory", "tenant", "questions", "answers", "sources_json", "metadata_json", "link_threshold")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    SOURCES_JSON_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    LINK_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    memory: str
    tenant: str
    questions: _containers.RepeatedScalarFieldContainer[str]
    answers: _containers.RepeatedScalarFieldContainer[str]
    sources_json: _containers.RepeatedScalarFieldContainer[str]
    metadata_json: _containers.RepeatedScalarFieldContainer[str]
    link_threshold: float
    def __init__(self, memory: _Optional[str] = ..., tenant: _Optional[str] = ..., questions: _Optional[_Iterable[str]] = ..., answers: _Optional[_Iterable[str]] = ..., sources_json: _Optional[_Iterable[str]] = ..., metadata_json: _Optional[_Iterable[str]] = ..., link_threshold: _Optional[float] = ...) -> None: ...

class QAAddPassagesRequest(_message.Message):
    __slots__ = ("memory", "tenant", "texts", "metadata_json", "sources_json")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    SOURCES_JSON_FIELD_NUMBER: _ClassVar[int]
    memory: str
    tenant: str
    texts: _containers.RepeatedScalarFieldContainer[str]
    metadata_json: _containers.RepeatedScalarFieldContainer[str]
    sources_json: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, memory: _Optional[str] = ..., tenant: _Optional[str] = ..., texts: _Optional[_Iterable[str]] = ..., metadata_json: _Optional[_Iterable[str]] = ..., sources_json: _Optional[_Iterable[str]] = ...) -> None: ...

class QAAskRequest(_message.Message):
    __slots__ = ("memory", "query", "tenant", "k", "where_json", "passages", "threshold", "margin", "reinforce", "min_score")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    WHERE_JSON_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MARGIN_FIELD_NUMBER: _ClassVar[int]
    REINFORCE_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    memory: str
    query: str
    tenant: str
    k: int
    where_json: str
    passages: int
    threshold: float
    margin: float
    reinforce: bool
    min_score: float
    def __init__(self, memory: _Optional[str] = ..., query: _Optional[str] = ..., tenant: _Optional[str] = ..., k: _Optional[int] = ..., where_json: _Optional[str] = ..., passages: _Optional[int] = ..., threshold: _Optional[float] = ..., margin: _Optional[float] = ..., reinforce: _Optional[bool] = ..., min_score: _Optional[float] = ...) -> None: ...

class QAAskMultihopRequest(_message.Message):
    __slots__ = ("memory", "query", "tenant", "hops", "k", "where_json", "min_score", "reinforce", "beam")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    HOPS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    WHERE_JSON_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    REINFORCE_FIELD_NUMBER: _ClassVar[int]
    BEAM_FIELD_NUMBER: _ClassVar[int]
    memory: str
    query: str
    tenant: str
    hops: int
    k: int
    where_json: str
    min_score: float
    reinforce: bool
    beam: int
    def __init__(self, memory: _Optional[str] = ..., query: _Optional[str] = ..., tenant: _Optional[str] = ..., hops: _Optional[int] = ..., k: _Optional[int] = ..., where_json: _Optional[str] = ..., min_score: _Optional[float] = ..., reinforce: _Optional[bool] = ..., beam: _Optional[int] = ...) -> None: ...

class QAContextRequest(_message.Message):
    __slots__ = ("memory", "query", "tenant", "k", "where_json", "max_chars", "multihop", "min_score")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    WHERE_JSON_FIELD_NUMBER: _ClassVar[int]
    MAX_CHARS_FIELD_NUMBER: _ClassVar[int]
    MULTIHOP_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    memory: str
    query: str
    tenant: str
    k: int
    where_json: str
    max_chars: int
    multihop: bool
    min_score: float
    def __init__(self, memory: _Optional[str] = ..., query: _Optional[str] = ..., tenant: _Optional[str] = ..., k: _Optional[int] = ..., where_json: _Optional[str] = ..., max_chars: _Optional[int] = ..., multihop: _Optional[bool] = ..., min_score: _Optional[float] = ...) -> None: ...

class QAIdsRequest(_message.Message):
    __slots__ = ("memory", "ids", "tenant")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    memory: str
    ids: _containers.RepeatedScalarFieldContainer[int]
    tenant: str
    def __init__(self, memory: _Optional[str] = ..., ids: _Optional[_Iterable[int]] = ..., tenant: _Optional[str] = ...) -> None: ...

class QAIdRequest(_message.Message):
    __slots__ = ("memory", "id", "tenant")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    memory: str
    id: int
    tenant: str
    def __init__(self, memory: _Optional[str] = ..., id: _Optional[int] = ..., tenant: _Optional[str] = ...) -> None: ...

class QAMemoriesRequest(_message.Message):
    __slots__ = ("memory", "tenant", "where_json")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    WHERE_JSON_FIELD_NUMBER: _ClassVar[int]
    memory: str
    tenant: str
    where_json: str
    def __init__(self, memory: _Optional[str] = ..., tenant: _Optional[str] = ..., where_json: _Optional[str] = ...) -> None: ...

class QATenantRequest(_message.Message):
    __slots__ = ("memory", "tenant")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    memory: str
    tenant: str
    def __init__(self, memory: _Optional[str] = ..., tenant: _Optional[str] = ...) -> None: ...

class QAReinforceRequest(_message.Message):
    __slots__ = ("memory", "ids", "tenant", "step")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    memory: str
    ids: _containers.RepeatedScalarFieldContainer[int]
    tenant: str
    step: float
    def __init__(self, memory: _Optional[str] = ..., ids: _Optional[_Iterable[int]] = ..., tenant: _Optional[str] = ..., step: _Optional[float] = ...) -> None: ...

class QAForgetRequest(_message.Message):
    __slots__ = ("memory", "tenant", "threshold", "dry_run")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    memory: str
    tenant: str
    threshold: float
    dry_run: bool
    def __init__(self, memory: _Optional[str] = ..., tenant: _Optional[str] = ..., threshold: _Optional[float] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class QAUpdateRequest(_message.Message):
    __slots__ = ("memory", "id", "tenant", "question", "answer", "source_json", "metadata_json", "reason")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_JSON_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    memory: str
    id: int
    tenant: str
    question: str
    answer: str
    source_json: str
    metadata_json: str
    reason: str
    def __init__(self, memory: _Optional[str] = ..., id: _Optional[int] = ..., tenant: _Optional[str] = ..., question: _Optional[str] = ..., answer: _Optional[str] = ..., source_json: _Optional[str] = ..., metadata_json: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class QALinkRequest(_message.Message):
    __slots__ = ("memory", "a", "b", "tenant")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    memory: str
    a: int
    b: int
    tenant: str
    def __init__(self, memory: _Optional[str] = ..., a: _Optional[int] = ..., b: _Optional[int] = ..., tenant: _Optional[str] = ...) -> None: ...

class QALinkRelatedRequest(_message.Message):
    __slots__ = ("memory", "tenant", "threshold", "k")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    memory: str
    tenant: str
    threshold: float
    k: int
    def __init__(self, memory: _Optional[str] = ..., tenant: _Optional[str] = ..., threshold: _Optional[float] = ..., k: _Optional[int] = ...) -> None: ...

class QAMergeRequest(_message.Message):
    __slots__ = ("memory", "ids", "tenant", "into")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    INTO_FIELD_NUMBER: _ClassVar[int]
    memory: str
    ids: _containers.RepeatedScalarFieldContainer[int]
    tenant: str
    into: int
    def __init__(self, memory: _Optional[str] = ..., ids: _Optional[_Iterable[int]] = ..., tenant: _Optional[str] = ..., into: _Optional[int] = ...) -> None: ...

class QAMergeDuplicatesRequest(_message.Message):
    __slots__ = ("memory", "tenant", "threshold", "answer_threshold")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ANSWER_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    memory: str
    tenant: str
    threshold: float
    answer_threshold: float
    def __init__(self, memory: _Optional[str] = ..., tenant: _Optional[str] = ..., threshold: _Optional[float] = ..., answer_threshold: _Optional[float] = ...) -> None: ...
