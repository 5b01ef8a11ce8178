namespace portico::config { }
