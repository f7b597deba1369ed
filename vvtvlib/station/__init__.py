"""The lab station: a real, runnable VVTV station for the protocols to operate on.

    provision   ``init_station``: tree, mezzanine clips, databases, configs, foundation key
    schema, db  SQLite schemas (business databases + control) and WAL-mode access
    state       control state in ``data/control.sqlite`` (flags, playout/resume position)
    control     ``status``, pause/resume, queue freeze, discovery hold, ``wait_empty``,
                ``broadcaster_start``/``broadcaster_stop`` (what ``vvtvctl`` calls)
    supervisor  ``station_up``/``station_down`` and the supervisor process entry point
    service     the supervisor itself: broadcaster, HTTP server, nginx child, workers
    broadcaster FFmpeg playing the queue into live HLS; the playout log
    schedule    pure queue -> run -> (item, offset) mapping (playlists: ``vvtvlib.media.hls``)
    workers     planner, realizer and discovery threads that really write the databases
    httpd       ``/status``, ``/hls/*``, ``/control/*`` on 127.0.0.1
    nginx       the nginx-rtmp profile (config rendering, privileges, process)
"""
