"""accounts.queries.built_per_thread: one object a thread, another in another thread."""


def test_a_query_built_per_thread_is_one_object_a_thread_and_another_in_another_thread():
    import threading

    from accounts.queries import built_per_thread

    made = []

    @built_per_thread
    def built() -> object:
        made.append(object())
        return made[-1]

    assert built() is built()
    other = []
    worker = threading.Thread(target=lambda: other.append(built()))
    worker.start()
    worker.join()
    assert other[0] is not built() and len(made) == 2
