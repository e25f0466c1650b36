"""The exception hierarchy, and the package's typing and import surface."""

import importlib.resources
import inspect

import proctor


def test_every_error_is_a_proctor_error():
    for name in proctor.__all__:
        obj = getattr(proctor, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            assert issubclass(obj, proctor.ProctorError), name
    assert issubclass(proctor.LockConflict, proctor.LockError)
    assert issubclass(proctor.AmbiguousBackend, proctor.BackendError)
    assert issubclass(proctor.ProctorOSError, OSError)


def test_stubs_and_py_typed_are_installed():
    files = importlib.resources.files("proctor")
    assert files.joinpath("py.typed").is_file()
    assert files.joinpath("_native.pyi").is_file()


def test_everything_public_has_a_docstring():
    for name in proctor.__all__:
        obj = getattr(proctor, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, name
            for attr, member in vars(obj).items():
                if not attr.startswith("_") and (inspect.isfunction(member) or isinstance(member, property)):
                    assert member.__doc__, f"{name}.{attr}"
