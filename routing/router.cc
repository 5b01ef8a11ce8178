namespace portico::routing { }
