"""Benchmarks print figures; they are never timed assertions in the test suite."""

if __name__ == "__main__":
    print("no benchmarks yet")
