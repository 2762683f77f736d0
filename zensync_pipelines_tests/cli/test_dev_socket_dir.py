"""`zensync dev` in a deep data folder: dagster dev's gRPC sockets must still bind (a unix socket's path holds at
most 107 bytes; the benchmarks' data folders under pytest-xdist's temporary paths went past it)."""

import socket

import pytest

from zensync_pipelines.cli.dev import SOCKET_DIR_MAX, socket_dir


def _binds(folder) -> bool:  # noqa: ANN001
    path = folder / "tmpabcdefgh"  # the length of the names dagster dev gives its sockets
    with socket.socket(socket.AF_UNIX) as server:
        try:
            server.bind(str(path))
        except OSError:
            return False
    path.unlink()
    return True


def test_a_deep_data_folder_gets_a_socket_folder_where_a_socket_binds(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    (deep / "tmp").mkdir()
    assert not _binds(deep / "tmp")  # what dagster dev met before: the code server could not start
    assert _binds(socket_dir(deep))


def test_a_short_data_folder_keeps_its_sockets_inside(tmp_path):
    if len(str(tmp_path / "tmp")) > SOCKET_DIR_MAX:
        pytest.skip("this machine's temporary folder is itself deep")
    assert socket_dir(tmp_path) == tmp_path / "tmp" and _binds(tmp_path / "tmp")
