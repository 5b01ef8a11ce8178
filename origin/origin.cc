namespace portico::origin { }
