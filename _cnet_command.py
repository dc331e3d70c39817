"""The ``cnet`` console script's entry point, outside the ``cnet`` package.

Importing anything in the package first runs ``cnet/__init__.py``, which refuses an unusable
build choice (``CNET_CPU=sse9``) or a broken install with an exception, as ``import cnet``
must. A script that imported ``cnet.cli`` directly would show that as a traceback; here it is
one line and exit status 2, like every other error of the command.
"""
import sys


def main(argv=None):
    """Run ``cnet.cli.main`` once the package has imported; see there for ``argv``."""
    try:
        import cnet.cli
    except (ImportError, ValueError) as exc:
        print(f"cnet: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return cnet.cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
