package store

// SQLiteColumns lists the readings table's columns (tests only).
func SQLiteColumns(s *SQLite) ([]string, error) {
	rows, err := s.db.Query(`SELECT name FROM pragma_table_info('iomt_readings')`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
