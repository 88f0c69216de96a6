"""Numbers YAML 1.1 reads otherwise than they look, found by file and line."""

from pathlib import Path

from ansible_collections.lbguard.core.plugins.filter import lbguard_yaml as y


def inventory(tmp_path: Path) -> Path:
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    web1:\n      lb_weight: 010\n      lb_backup: false\n")
    (tmp_path / "group_vars" / "all.yml").write_text("a: '010'\nb: 0\nc: 10\nd: 0x1F\ne: 1:30\n")
    (tmp_path / "host_vars" / "web2").write_text("lb_weight: -07\n")  # Ansible reads files without an ending here
    (tmp_path / "notes.txt").write_text("weight: 010\n")
    return tmp_path


def test_octal_and_base_60_numbers_are_found_in_files_and_their_vars_folders(tmp_path: Path) -> None:
    found = y.yaml_traps([str(inventory(tmp_path) / "hosts.yml")])
    assert found == [
        f"{tmp_path}/hosts.yml:4: 010 is read as the octal number 8 (YAML 1.1); quote it or write the number you mean",
        f"{tmp_path}/group_vars/all.yml:5: 1:30 is read as the base-60 number 90 (YAML 1.1); "
        "quote it or write the number you mean",
        f"{tmp_path}/host_vars/web2:1: -07 is read as the octal number -7 (YAML 1.1); "
        "quote it or write the number you mean",
    ]


def test_a_folder_source_is_read_whole_and_each_file_once(tmp_path: Path) -> None:
    root = inventory(tmp_path)
    found = y.yaml_traps([str(root), str(root / "hosts.yml")])
    assert len(found) == 3 and not any("notes.txt" in line for line in found)


def test_sources_that_are_no_files_and_files_that_do_not_parse_are_left_to_ansible(tmp_path: Path) -> None:
    (tmp_path / "broken.yml").write_text("a: [1\n")
    assert y.yaml_traps([str(tmp_path / "broken.yml"), "localhost,", str(tmp_path / "missing.yml")]) == []
