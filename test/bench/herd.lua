-- wrk adapter for herd, in the format of ../shared/anchors/http-load/adapters:
-- write = upsert (PUT without preconditions: setData if the znode exists,
-- else create), read = getData in herd's default JSON representation (data
-- and stat, as ZooKeeper's getData returns both). Keys are znode paths
-- under /anchors, which the bench creates first.
return {
  name = "herd",
  write = function(key, value)
    return "PUT", "/znodes" .. key, nil, value
  end,
  read = function(key)
    return "GET", "/znodes" .. key, nil, nil
  end,
}
