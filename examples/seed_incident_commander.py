# incident_commander.py
from tocsin import Incident

incident = Incident("SEV-1", "api-gateway", "All requests returning 502")
incident.assign_ic("Alice")
incident.add_responder("Bob", "Networking")
incident.add_responder("Carol", "Backend")
incident.update_status("mitigating", "Rolling back last deployment")
incident.update_status("resolved", "Rollback complete, traffic restored")
incident.summary()
