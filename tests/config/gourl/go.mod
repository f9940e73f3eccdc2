module wasmplugin.test/gourl

go 1.22
