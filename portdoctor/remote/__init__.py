"""Both ends of a connection: diagnosing other machines over SSH (``--ssh``, ``--from``).

- :mod:`.destination`: ``[USER@]HOST`` and host lists (``@FILE``, Ansible inventories).
- :mod:`.bundle`: portdoctor as an in-memory zip and the shell line that runs it remotely.
- :mod:`.agent`: what runs on the other machine (standard library only).
- :mod:`.transport`: the OpenSSH client, bounded in time and output size.
- :mod:`.receive`: what comes back, read as hostile data into the report model.
- :mod:`.reduced`: server-side facts from ``ss``/``nft``/``iptables-save`` when there is no python3.
- :mod:`.combine`: the client's and the server's sides in one report; many hosts at once.
"""
