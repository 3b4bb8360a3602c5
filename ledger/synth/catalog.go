package synth

// The catalog a synthetic practice draws from: names, and a fee schedule of
// procedure codes. Fees are in cents.

var providerNames = []struct{ name, code string }{
	{"Dr. Avery Chen", "CHEN"}, {"Dr. Maria Lopez", "LOPEZ"}, {"Dr. Samuel Okafor", "OKAFOR"},
	{"Dr. Hannah Berg", "BERG"}, {"Dr. Ravi Iyer", "IYER"}, {"Dana Whitfield, RDH", "WHITFIELD"},
}

var locationNames = []struct{ name, code string }{
	{"Main Street Dental", "MAIN"}, {"Riverside Clinic", "RIVER"}, {"Northgate Office", "NORTH"},
	{"Harbor Family Dental", "HARBOR"}, {"Westfield Surgery Center", "WEST"},
}

var lastNames = []string{
	"Smith", "Johnson", "Garcia", "Nguyen", "Patel", "Kim", "Okafor", "Müller", "Rossi", "Kowalski",
	"Brown", "Davis", "Martinez", "Hernandez", "Wilson", "Anderson", "Thomas", "Moore", "Jackson", "Lee",
	"Harris", "Clark", "Lewis", "Walker", "Hall", "Young", "Allen", "Wright", "Scott", "Green",
	"Baker", "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Roberts", "Carter", "Phillips", "Evans",
	"O'Brien", "Van der Berg", "Sato", "Haddad", "Ivanova", "Costa", "Schmidt", "Dubois", "Lindqvist", "Mensah",
}

var adultFirstNames = []string{
	"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
	"William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Ana",
	"Wei", "Mei", "Arjun", "Priya", "Oluwaseun", "Ngozi", "Hiroshi", "Yuki", "Ahmed", "Fatima",
	"José", "Lucía", "Sven", "Ingrid", "Dmitri", "Olga", "Kwame", "Ama", "Liam", "Chloé",
}

var childFirstNames = []string{
	"Emma", "Liam", "Olivia", "Noah", "Ava", "Elijah", "Sophia", "Lucas", "Mia", "Mateo",
	"Isabella", "Levi", "Amelia", "Ezra", "Harper", "Kai", "Aria", "Leo", "Zoe", "Finn",
	"Aiko", "Ravi", "Nia", "Omar", "Lena", "Theo", "Ines", "Milo", "Ada", "Jonah",
}

// category groups codes by how insurance covers them.
type category int

const (
	preventive category = iota
	basic
	major
)

type procedure struct {
	code string
	fee  int64 // cents
	cat  category
}

var procedures = []procedure{
	{"D0120", 6500, preventive}, {"D0140", 7500, preventive}, {"D0150", 9500, preventive},
	{"D0210", 15000, preventive}, {"D0220", 3500, preventive}, {"D0274", 6500, preventive},
	{"D1110", 11000, preventive}, {"D1120", 8500, preventive}, {"D1206", 4500, preventive},
	{"D1208", 4000, preventive}, {"D1351", 5500, preventive}, {"99213", 13500, preventive},
	{"D2140", 15500, basic}, {"D2150", 19500, basic}, {"D2330", 21000, basic},
	{"D2391", 18000, basic}, {"D2392", 23000, basic}, {"D4341", 26000, basic},
	{"D4910", 14500, basic}, {"D7140", 19000, basic}, {"D7210", 32000, basic},
	{"99203", 16500, basic},
	{"D2740", 120000, major}, {"D2750", 110000, major}, {"D3310", 95000, major},
	{"D3330", 125000, major}, {"D6010", 210000, major}, {"D5110", 160000, major},
}

// byCategory indexes procedures by category.
var byCategory = func() map[category][]procedure {
	m := make(map[category][]procedure)
	for _, p := range procedures {
		m[p.cat] = append(m[p.cat], p)
	}
	return m
}()

// coverage is the share of a fee (in percent) an insurance plan is expected
// to pay, by category.
var plans = [][3]int64{
	{100, 80, 50},
	{100, 70, 50},
	{80, 80, 40},
	{90, 60, 0},
}

var paymentMethods = []string{"card", "card", "card", "cash", "check"}
