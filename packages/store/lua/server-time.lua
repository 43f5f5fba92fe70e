-- Redis server time, from the node that holds the deployment's keys: on a
-- Cluster a keyless TIME goes to any node, and the nodes' clocks may differ.
-- KEYS[1] any key of the deployment (only routes the call). Answers TIME's
-- {seconds, microseconds}.
return redis.call('TIME')
