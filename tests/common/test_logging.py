import logging

from common.logging import PiiMaskingFilter, mask_pii


def test_phone_and_id_numbers_are_masked() -> None:
    text = "电话13812345678，+86 13912345678，座机010-87654321，身份证11010519491231002X"
    masked = mask_pii(text)
    for secret in ("13812345678", "13912345678", "87654321", "11010519491231002X"):
        assert secret not in masked
    assert "138****5678" in masked and "110105********002X" in masked


def test_ticket_numbers_and_temperatures_survive() -> None:
    assert mask_pii("工单 GB20261123-0001 体温36.5") == "工单 GB20261123-0001 体温36.5"


def test_filter_masks_interpolated_arguments(caplog) -> None:
    logger = logging.getLogger("test.pii")
    handler_filter = PiiMaskingFilter()
    logger.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="test.pii"):
            logger.info("caller %s", "13812345678")
    finally:
        logger.removeFilter(handler_filter)
    assert "13812345678" not in caplog.text and "138****5678" in caplog.text
