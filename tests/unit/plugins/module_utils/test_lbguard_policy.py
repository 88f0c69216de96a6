"""The policy's rules, shared by validation, plan, audit, verification and the summary's warnings."""

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_policy import over_share, too_few_active, weight_shares


def test_shares_follow_the_weights_of_the_servers_in_rotation():
    assert weight_shares({"web1": 2, "web2": 1, "web3": 1}) == {"web1": 0.5, "web2": 0.25, "web3": 0.25}
    assert weight_shares({"web1": 0, "web2": 3}) == {"web1": 0.0, "web2": 1.0}


def test_balance_first_gives_everything_to_the_first_server_with_a_weight():
    assert weight_shares({"web1": 0, "web2": 1, "web3": 5}, "first") == {"web1": 0.0, "web2": 1.0, "web3": 0.0}


def test_no_weight_at_all_means_no_share():
    assert weight_shares({"web1": 0, "web2": 0}) == {"web1": 0.0, "web2": 0.0}


def test_a_share_at_the_limit_is_within_it_and_one_above_is_not():
    shares = weight_shares({"web1": 1, "web2": 1, "web3": 1})
    assert over_share(shares, 1 / 3) == []
    assert over_share({"web1": 0.5, "web2": 0.5000001}, 0.5) == ["web2"]
    assert over_share({"web1": 0.55}, 0.5, slack=0.1) == []


def test_too_few_active_servers():
    assert too_few_active(1, 2) and not too_few_active(2, 2)
