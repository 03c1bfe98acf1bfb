"""Is the service running? (Placeholder; to be written.)"""

from portdoctor.api import Check


class ServiceRunningCheck(Check):
    name = "service-running"
    title = "Is the service running?"
    order = 100

    def run(self, ctx):
        if ctx.listeners(own_namespace=False):
            return self.passed("Something is listening on the port.")
        return self.fail("not-listening", f"Nothing is listening on port {ctx.target.port}.")
