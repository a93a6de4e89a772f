"""The authors' own pseudo-labels (void stored as N, not 255) as a ground-truth training set."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy.orm import Session

from app.domain.errors import InvalidInput
from app.domain.priors import compile_priors
from app.services import mappings as service
from app.services import taxonomies as taxonomy_service
from tests import factories


def test_the_identity_mapping_reads_void_n_as_ignore(session: Session) -> None:
    target = factories.make_class_list(session)  # 4 classes: the authors' void is stored as 4
    mapping, created = service.authors_pseudo_label_mapping(session, taxonomy_id=target.id)
    assert created and "void stored as 4" in mapping.name
    assert (mapping.source_taxonomy_id, mapping.target_taxonomy_id) == (target.id, target.id)
    again, created_again = service.authors_pseudo_label_mapping(session, taxonomy_id=target.id)
    assert again.id == mapping.id and not created_again
    version = service.current_version(session, mapping.id)
    taxonomy = taxonomy_service.load_taxonomy(session, target.id)
    priors = compile_priors(service.version_edges(version), taxonomy, taxonomy)
    pseudo = np.array([[0, 1, 2], [3, 4, 255]])  # an authors' pseudo-label: 4 = void
    assert priors.hard_map(pseudo).tolist() == [[0, 1, 2], [3, 255, 255]]
    assert not service.validation_report(session, version.id).errors


def test_a_taxonomy_that_is_not_a_class_list_is_refused(session: Session) -> None:
    source = factories.make_taxonomy(session)
    with pytest.raises(InvalidInput, match="class list"):
        service.authors_pseudo_label_mapping(session, taxonomy_id=source.id)
